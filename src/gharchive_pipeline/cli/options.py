"""Arguments and options several `gharchive` commands share, spelled once so they cannot drift."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, overload

import click

from ..hours import Hour, HourError
from ..settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

HOME_HELP = "Local home: DIR/raw, DIR/curated (buckets) and DIR/warehouse."


class HourParam(click.ParamType):
    """A GH Archive hour on the command line (`2015-01-01T15`, `2015-01-01-15`, ISO 8601)."""

    name = "HOUR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Hour:
        if isinstance(value, Hour):
            return value
        try:
            return Hour.parse(str(value))
        except HourError as exc:
            self.fail(str(exc), param, ctx)


HOUR = HourParam()


def home_option(help: str = HOME_HELP) -> Callable[[F], F]:
    """`--home DIR` (default `.home`): the local layout DIR/raw, DIR/curated, DIR/warehouse."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".home"),
        show_default=True,
        help=help,
    )


def deployment_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """`--deployment FILE`: the saved `terraform output -json` a command takes its cloud settings from."""
    path = click.Path(dir_okay=False, path_type=Path)
    if required:  # no default at all: an explicit None would count as one and pass the check
        return click.option("--deployment", type=path, required=True, help=help)
    return click.option("--deployment", type=path, default=None, help=help)


def deployment_settings(deployment: Path, **given: str | None) -> Settings:
    """The settings saved in the deployment file, each one given on the command line (not empty: an
    option left out) in place of the file's value."""
    found = Settings.from_deployment(deployment)
    overrides: dict[str, Any] = {name: value for name, value in given.items() if value}
    return dataclasses.replace(found, **overrides)


def hour_arguments(*, start_required: bool, end_required: bool = False) -> Callable[[F], F]:
    """START and END hour arguments; pair with `window` to default END and check the order."""

    def decorate(f: F) -> F:
        f = click.argument("end", type=HOUR, required=end_required)(f)
        return click.argument("start", type=HOUR, required=start_required)(f)

    return decorate


def usable_source(source: str, *, reach: bool = True) -> str:
    """`source` if hours can be fetched from it: a scheme we cannot fetch, or a folder that is not
    there, is a usage error; with `reach`, so is a URL that cannot be reached at all now (its name
    does not resolve, nothing listens): a run stops at once instead of retrying every hour. Once a
    run is going, network faults are transient and retried (the download's job)."""
    from ..download import redact_url, source_problem, unreachable

    problem = source_problem(source)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--source")
    why = unreachable(source) if reach else None
    if why is not None:
        raise click.ClickException(
            f"cannot reach {redact_url(source)}: {why}; use --source DIR for local hour files"
        )
    return source


@overload
def window(start: Hour, end: Hour | None) -> tuple[Hour, Hour]: ...


@overload
def window(start: Hour | None, end: Hour | None) -> tuple[Hour | None, Hour | None]: ...


def window(start: Hour | None, end: Hour | None) -> tuple[Hour | None, Hour | None]:
    """(START, END) with END defaulting to START; END before START is a usage error."""
    last = start if end is None else end
    if start is not None and last is not None and last < start:
        raise click.BadParameter(f"END {last.key} is before START {start.key}", param_hint="END")
    return start, last
