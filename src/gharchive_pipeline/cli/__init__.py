"""`gharchive`: the command line. Each command group lives in its own module, imported only when
one of its commands runs (a `gharchive normalize` need not load the cloud clients: ~0.3 s)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

import click

from .. import __version__
from ..local import stopping
from .errors import show_tracebacks, user_error

__all__ = ["LazyGroup", "cli", "main"]

#: command -> the module that defines it (each module lists its commands in COMMANDS)
_COMMAND_MODULES = {
    "normalize": "normalize_cmd",
    "schema": "schema_cmd",
    "ingest": "ingest_cmd",
    "backfill": "ingest_cmd",
    "run": "run_cmd",
    "status": "run_cmd",
    "stats": "stats_cmd",
    "report": "stats_cmd",
    "load": "load_cmd",
    "renormalize": "renormalize_cmd",
    "smoke": "smoke_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"{__name__}.{module_name}")
        return next(c for c in module.COMMANDS if c.name == cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main(argv: Sequence[str] | None = None) -> None:
    """The `gharchive` program: a user's error (see cli/errors.py) is one line on stderr and exit
    status 1, never a traceback; a bug keeps its traceback. SIGINT or SIGTERM at any moment: one
    line and exit status 128 + the signal (local/stopping.py)."""
    with stopping.handled():
        try:
            _main(argv)
        except stopping.Stopped as stop:
            click.echo(stopping.STOPPED_MESSAGE, err=True)
            sys.exit(stop.exit_status)


def _main(argv: Sequence[str] | None) -> None:
    # No command does linear algebra; OpenBLAS would otherwise start (and spin) a thread per core
    # when pyarrow imports numpy, competing with the normalizer's reader and writer threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli.main(args=argv, prog_name="gharchive")
    except Exception as exc:
        message = user_error(exc)
        if message is None or show_tracebacks():
            raise
        click.echo(f"Error: {message}", err=True)
        sys.exit(1)
