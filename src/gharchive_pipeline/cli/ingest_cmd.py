"""`gharchive ingest` and `gharchive backfill`: get GH Archive hours into the raw bucket.

Locally the raw bucket is `HOME/raw` (or `--raw gs://bucket`); with `backfill --topic` the hours
are published as messages for the ingest Cloud Function instead of being downloaded here.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from ..context import Context, cloud_context, local_context
from ..download import RetryPolicy
from ..hours import DEFAULT_BASE_URL, Hour, hour_range
from ..load.loader import DEFERRED, HOURLY
from ..outcome import IngestOutcome
from ..publish import PublishError, PubSubPublisher, check_topic
from ..settings import ENV_SOURCE, Settings
from ..stages.ingest import ingest_hour, ingest_hours
from ..storage.base import StorageError
from .options import HOUR, deployment_option, home_option, hour_arguments, usable_source, window
from .output import console as output_console
from .output import text_column

_SUCCESS = {IngestOutcome.STORED, IngestOutcome.ALREADY_PRESENT}


source_option = click.option(
    "--source",
    default=lambda: os.environ.get(ENV_SOURCE, DEFAULT_BASE_URL),
    show_default=DEFAULT_BASE_URL,
    help="Base URL or local directory of GH Archive files.",
)
raw_home_option = home_option("Local pipeline home; raw hours go to HOME/raw.")
raw_option = click.option(
    "--raw", "raw_url", default=None, help="Raw bucket (gs://BUCKET or a directory); default HOME/raw."
)


retries_option = click.option(
    "--retries",
    type=click.IntRange(1, 50),
    default=RetryPolicy.attempts,
    show_default=True,
    help="Tries per hour while the source fails transiently.",
)
retry_delay_option = click.option(
    "--retry-delay",
    type=click.FloatRange(0, 600),
    default=RetryPolicy.base_delay,
    show_default=True,
    help="First backoff in seconds (doubles per retry, with jitter).",
)


deadline_option = click.option(
    "--deadline",
    type=click.FloatRange(1, 24 * 3600),
    default=RetryPolicy.deadline,
    show_default=True,
    help="Seconds one hour's download may take in all (tries and waits); then it is `transient`.",
)


def _policy(retries: int, retry_delay: float, deadline: float) -> RetryPolicy:
    return RetryPolicy(
        attempts=retries,
        base_delay=retry_delay,
        max_delay=max(retry_delay, RetryPolicy.max_delay),
        deadline=deadline,
    )


def _context(home: Path, raw_url: str | None, source: str, policy: RetryPolicy) -> Context:
    """The raw bucket `--raw` names (a cloud one: gs://...), else HOME's; opened now, so an
    unusable bucket is one line before anything is downloaded (and so is an unusable source)."""
    usable_source(source)
    try:
        if raw_url:
            ctx = cloud_context(Settings(raw_bucket=raw_url, source=source), download=policy)
        else:
            ctx = local_context(home, source=source, download=policy)
        ctx.raw  # noqa: B018 - opens (and checks) the bucket
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    return ctx


def _progress(console: Console) -> Progress:
    return Progress(
        text_column("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@click.command("ingest")
@click.argument("hour", type=HOUR)
@source_option
@raw_home_option
@raw_option
@retries_option
@retry_delay_option
@deadline_option
def ingest_command(
    hour: Hour,
    source: str,
    home: Path,
    raw_url: str | None,
    retries: int,
    retry_delay: float,
    deadline: float,
) -> None:
    """Download one GH Archive HOUR into the raw bucket (skipped if already there).

    Exit status 0 when the hour is stored (or already was), 1 otherwise; every outcome is logged
    as a JSON line on stderr and recorded in the hour's ledger.
    """
    ctx = _context(home, raw_url, source, _policy(retries, retry_delay, deadline))
    raw = ctx.raw
    try:
        result = ingest_hour(hour, ctx)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    where = f" -> {raw.url}/{result.object}" if result.object else ""
    detail = f" ({result.detail})" if result.detail else ""
    click.echo(f"{hour.key}: {result.outcome.value}{where}{detail}")
    if result.outcome not in _SUCCESS:
        raise SystemExit(1)


@click.command("backfill")
@hour_arguments(start_required=True, end_required=True)
@click.option("--topic", default=None, help="Publish one message per hour to projects/P/topics/T instead.")
@deployment_option(
    "Saved `terraform output -json` of the deployment: publish to its hours topic (as --topic)."
)
@click.option(
    "--hourly-loads",
    is_flag=True,
    help="With --topic: load each hour on its own as it lands (one Dataproc batch per hour) instead of "
    "the default for ranges, one batch per UTC day once the day is settled (`gharchive load` sweeps up).",
)
@source_option
@raw_home_option
@raw_option
@retries_option
@retry_delay_option
@deadline_option
def backfill_command(
    start: Hour,
    end: Hour,
    topic: str | None,
    deployment: Path | None,
    hourly_loads: bool,
    source: str,
    home: Path,
    raw_url: str | None,
    retries: int,
    retry_delay: float,
    deadline: float,
) -> None:
    """Ingest every hour from START to END (both included).

    \b
    With --topic (or --deployment FILE, the saved `terraform output -json`, for its hours topic):
                  publish {"hour": ..., "load": "deferred"} messages for the ingest Cloud Function
                  (Pub/Sub); one Dataproc batch per settled UTC day loads them (--hourly-loads, or a
                  single hour: each hour on its own, whatever the deployment's hourly_load).
    Without:      download here, hour by hour, into HOME/raw (or --raw) and print counts per outcome.
    Exit status 1 if any hour should be retried later (transient, not yet published).
    """
    start, end = window(start, end)
    total = start.hours_until(end) + 1
    console = output_console(stderr=True)
    if deployment is not None and not topic:
        topic = Settings.from_deployment(deployment).topic
    if topic:
        _publish(start, end, total, topic, console, load=HOURLY if hourly_loads or total == 1 else DEFERRED)
        return
    ctx = _context(home, raw_url, source, _policy(retries, retry_delay, deadline))
    with _progress(console) as progress:
        task = progress.add_task(f"ingest {start.key}..{end.key}", total=total)
        try:
            counts = ingest_hours(start, end, ctx, after_hour=lambda _result: progress.advance(task))
        except StorageError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"backfill {start.key}..{end.key} into {ctx.raw.url}: {total:,} hour(s)")
    table = Table("outcome", "hours")
    for outcome in IngestOutcome:
        if counts[outcome]:
            table.add_row(outcome.value, f"{counts[outcome]:,}")
    output_console().print(table)
    retry = counts[IngestOutcome.TRANSIENT] + counts[IngestOutcome.NOT_YET_PUBLISHED]
    if retry:
        click.echo(f"{retry:,} hour(s) can be retried later: run the same backfill again.", err=True)
        raise SystemExit(1)


def _publish(start: Hour, end: Hour, total: int, topic: str, console: Console, *, load: str = "") -> None:
    try:
        check_topic(topic)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--topic") from exc
    publisher = PubSubPublisher()
    with _progress(console) as progress:
        task = progress.add_task(f"publish to {topic}", total=total)
        try:
            count = publisher.publish_hours(
                topic, hour_range(start, end), on_published=lambda _h: progress.advance(task), load=load
            )
        except PublishError as exc:
            raise click.ClickException(str(exc)) from exc
    loads = "loaded by day batches" if load == DEFERRED else "each loaded on its own"
    click.echo(f"published {count} hour messages ({start.key}..{end.key}) to {topic}, {loads}")


COMMANDS: list[click.Command] = [ingest_command, backfill_command]
