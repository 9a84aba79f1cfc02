"""`gharchive`: the command line. Each command group lives in its own module."""

from __future__ import annotations

import logging

import click

from .. import __version__
from . import ingest_cmd, normalize_cmd, run_cmd, schema_cmd, stats_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gharchive")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
def cli(verbose: bool) -> None:
    """GH Archive hours -> a clean events table and statistics of commits and actions per hour.

    \b
    Typical local use:
      gharchive run 2015-01-01T00 2015-01-01T05     # download, normalize, load, per hour
      gharchive status                              # what happened to every hour
      gharchive stats --by hour                     # events and commits per hour and type
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s")


for module in (normalize_cmd, schema_cmd, ingest_cmd, run_cmd, stats_cmd):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="gharchive")
