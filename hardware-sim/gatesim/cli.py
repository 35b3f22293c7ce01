"""``gate-sim``: run a simulator. Each simulator module registers its own subcommand here."""

from __future__ import annotations

import importlib

import click

SIMULATORS = ("gatesim.barrier", "gatesim.ledboard")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Simulators that speak the real protocols, for tests, the demo and the site run."""


for _module in SIMULATORS:
    try:
        cli.add_command(importlib.import_module(_module).command)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise


def main() -> None:
    cli()
