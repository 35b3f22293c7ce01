"""``gate-sim``: run a simulator. Each simulator module registers its own subcommand here."""

from __future__ import annotations

import click

from gatesim import barrier, camera, ledboard


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Simulators that speak the real protocols, for tests, the demo and the site run."""


for _sim in (barrier, ledboard, camera):
    cli.add_command(_sim.command)


def main() -> None:
    cli()
