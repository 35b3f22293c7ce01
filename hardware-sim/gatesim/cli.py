"""``gate-sim``: run a simulator. Each simulator module registers its own subcommand here."""

from __future__ import annotations

import click

from gatesim import barrier, camera, ledboard
from gatesim.site import cli as site_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Simulators that speak the real protocols, for tests, the demo and the site run."""


for _sim in (barrier, ledboard, camera):
    cli.add_command(_sim.command)
cli.add_command(site_cli.command)


def main() -> None:
    cli()
