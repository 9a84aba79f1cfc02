"""`gharchive renormalize`: re-process the hours an older pipeline version normalized.

Both ways go through the ingest stage: a `{"hour", "load": "deferred", "renormalize": true}`
message makes it store the hour's raw object again in place (same bytes, a new generation), whose
finalize event has normalize make the hour anew, and the loads wait for whole days. Locally (`--home`)
the local bus delivers the messages and the days are rebuilt here; deployed (`--topic`) the messages
go to the ingest function, as a backfill's do.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..hours import Hour, day_range
from . import output
from .options import deployment_option, deployment_settings, home_option, hour_arguments, window
from .run_cmd import DEFAULT_ENGINE, DEFAULT_MEMORY_LIMIT, ENGINES

if TYPE_CHECKING:
    from ..storage.base import Storage


@click.command("renormalize")
@hour_arguments(start_required=True, end_required=True)
@home_option()
@click.option(
    "--topic",
    default=None,
    help="Deployed: publish one renormalize message per hour to projects/P/topics/T (the ingest "
    "function's topic) instead; the range is widened to whole UTC days (a day loads once, when all "
    "its hours are at the new version).",
)
@deployment_option(
    "Saved `terraform output -json` of the deployment: its hours topic and curated bucket (as "
    "--topic and --curated)."
)
@click.option(
    "--curated",
    "curated_url",
    metavar="URL",
    default=None,
    help="With --topic: the curated bucket (gs://BUCKET); only the hours it holds written by another "
    "version than this installation's are sent (without it every hour of the days is sent; the "
    "function skips an hour already stored again for its version).",
)
@click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True)
@click.option("--memory-limit", default=DEFAULT_MEMORY_LIMIT, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Hours normalized at once, one process each (default: as for `gharchive run`).",
)
def renormalize_command(
    start: Hour,
    end: Hour,
    home: Path,
    topic: str | None,
    deployment: Path | None,
    curated_url: str | None,
    engine: str,
    memory_limit: str,
    workers: int | None,
) -> None:
    """Normalize again every hour from START to END whose curated file an older pipeline version
    wrote, then load each UTC day they touch once.

    \b
    Idempotent: hours already at this version are skipped, so a second run changes nothing.
    `gharchive status` shows the version that normalized each hour.
    """
    first, last = window(start, end)
    if deployment is not None:
        deployed = deployment_settings(deployment, topic=topic, curated_bucket=curated_url)
        topic, curated_url = deployed.topic, deployed.curated_bucket or None
    if curated_url and not topic:
        raise click.UsageError("--curated goes with --topic (a home's curated bucket is read anyway)")
    if topic:
        _publish(first, last, topic, curated_url)
        return
    _local(first, last, home, engine, memory_limit, workers)


def _local(first: Hour, last: Hour, home: Path, engine: str, memory_limit: str, workers: int | None) -> None:
    from ..load.duckdb_days import DuckDBConfig
    from ..load.local_load import Engine
    from ..local.renormalize import rebuilt_days, renormalize_hours
    from .run_cmd import _print_run

    if not home.is_dir():
        raise click.ClickException(f"no home at {home} (run `gharchive run` first)")
    todo, report = renormalize_hours(
        first,
        last,
        home=home,
        engine=Engine(engine),
        duckdb=DuckDBConfig(memory_limit=memory_limit),
        workers=workers,
    )
    console = output.console()
    if todo.stale:
        _print_run(console, report, title=f"gharchive renormalize {first.key}..{last.key} ({home})")
    days = rebuilt_days(report)
    click.echo(
        f"{len(todo.stale):,} hour(s) normalized again by version {todo.version}, "
        f"{len(todo.current):,} already at it, {len(todo.absent):,} without raw or curated file; "
        f"{len(days):,} day(s) rebuilt"
    )
    if not report.ok:
        sys.exit(1)


def _publish(first: Hour, last: Hour, topic: str, curated_url: str | None) -> None:
    """One message per hour to re-process in the whole UTC days of the range."""
    from ..load.loader import DEFERRED
    from ..publish import PublishError, PubSubPublisher, check_topic

    try:
        check_topic(topic)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--topic") from exc
    days = list(day_range(first.start.date(), last.start.date()))
    hours = hours_to_send(days, _curated(curated_url) if curated_url else None)
    try:
        count = PubSubPublisher().publish_hours(topic, hours, load=DEFERRED, renormalize=True)
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
    span = f"{days[0].isoformat()}..{days[-1].isoformat()}"
    click.echo(f"published {count:,} renormalize messages ({span}) to {topic}, loaded by day batches")


def hours_to_send(days: list[date], curated: Storage | None) -> list[Hour]:
    """The hours of `days` to re-process: with the curated bucket, those it holds written by another
    version than this installation's (one listing per day); without, every hour (the function
    leaves alone an hour it already stored again for its version, and ingests one it lacks)."""
    from .. import PIPELINE_VERSION
    from ..outcome import written_version
    from ..stages.settle import curated_hours, day_hours

    if curated is None:
        return [h for d in days for h in day_hours(d)]
    return [
        hour
        for day in days
        for hour, info in sorted(curated_hours(curated, day).items())
        if written_version(info.metadata) != PIPELINE_VERSION
    ]


def _curated(url: str) -> Storage:
    from ..context import cloud_context
    from ..settings import Settings
    from .run_cmd import _check_existing

    _check_existing(url, "--curated")
    return cloud_context(Settings(curated_bucket=url)).curated


COMMANDS: list[click.Command] = [renormalize_command]
