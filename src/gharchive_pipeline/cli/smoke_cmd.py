"""`gharchive smoke`: after a deploy, send one small known hour through the deployed pipeline and
follow it to the warehouse.

The hour is published to the deployment's hours topic as a one-hour backfill (`load=hour`: loaded on
its own whatever `hourly_load` says); then the hour's ledger (ledger.read_history, the one typed hour
history) says where it is: ingested, normalized with its counts, the batch asked to load it and that
batch's state (Dataproc), and finally BigQuery: the rows whose source_hour is the hour must be the rows
the normalizer wrote, and `hourly_stats` must hold the hour with the count a recomputation gives.
Each stage's state is printed; the first stage that does not finish in time is named with what to
check. Everything it touches is passed in, so the tests run it on the stand-ins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import click

from ..hours import Hour
from ..ledger import HourHistory, read_history
from ..load.loader import HOURLY
from ..outcome import IngestOutcome, LoadOutcome, NormalizeOutcome, Stage
from ..settings import Settings
from ..storage.base import Storage
from .options import HOUR, deployment_option

#: A small hour that GH Archive has (about 7,700 events, 2.6 MB).
DEFAULT_HOUR = "2015-01-01T15"
DONE_BATCH = "SUCCEEDED"
FAILED_BATCH = frozenset({"FAILED", "CANCELLED"})


class State(StrEnum):
    DONE = "done"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Step:
    """Where the hour stands at one stage: its state, what was seen, and what to check if stuck."""

    stage: str
    state: State
    detail: str = ""
    check: str = ""


class Publisher(Protocol):
    def publish_hours(self, topic: str, hours: Any, *, on_published: Any = None, load: str = "") -> int: ...


@dataclass
class Deployment:
    """What smoke reads and asks: the buckets, the batches' states, BigQuery."""

    settings: Settings
    raw: Storage
    batch_state: Callable[[str], str | None]
    bigquery: Any  # a google.cloud.bigquery.Client (or one with its query() API)


def _hints(s: Settings) -> dict[str, str]:
    logs = "Cloud Logging: resource.type=cloud_run_revision resource.labels.service_name"
    return {
        "ingest": f"the ingest function's logs ({logs}=*-ingest), its push subscription on "
        f"{s.topic} and the dead-letter subscription (Terraform output dead_letter_subscription)",
        "normalize": f"the normalize function's logs ({logs}=*-normalize) and its Eventarc trigger on "
        f"{s.raw_bucket} (docs/deploy.md: service agents may need minutes on a fresh project)",
        "batch": f"the spark_trigger function's logs ({logs}=*-spark-trigger); then "
        f"`gcloud dataproc batches describe BATCH --region {s.region}` and its driver output, and the "
        "region's CPU quota (docs/deploy.md)",
        "bigquery": f"the batch's driver output, and the table {s.bq_table} and its hourly_stats "
        "(a day already loaded with another copy of these events keeps that copy)",
    }


def _ingest(history: HourHistory) -> tuple[State, str]:
    entry = history.latest(Stage.INGEST)
    if entry is None:
        return State.WAITING, "no ingest outcome yet"
    if entry.outcome in (IngestOutcome.STORED, IngestOutcome.ALREADY_PRESENT):
        return State.DONE, str(entry.outcome)
    if entry.outcome in (IngestOutcome.MISSING, IngestOutcome.CORRUPT, IngestOutcome.MALFORMED):
        return State.FAILED, str(entry.outcome)
    return State.WAITING, f"{entry.outcome} (retried)"


def _normalize(history: HourHistory) -> tuple[State, str]:
    version = history.normalized_version()
    if version is not None:
        return (
            State.DONE,
            f"{version.events} events, {version.rejects or 0} rejects (generation {version.generation})",
        )
    entry = history.latest(Stage.NORMALIZE)
    if entry is not None and entry.outcome is NormalizeOutcome.FAILED:
        return State.FAILED, str(entry.details.get("error", entry.outcome))
    return State.WAITING, "no curated file yet"


def _batch(
    history: HourHistory, generation: int, batch_state: Callable[[str], str | None]
) -> tuple[State, str]:
    if history.loaded(generation) is not None:
        return State.DONE, f"loaded by {history.batch(generation)}"
    batch = history.batch(generation)
    failed = [e for e in history.loads(generation) if e.outcome is LoadOutcome.FAILED]
    if not batch:
        if failed:
            return State.FAILED, str(failed[-1].details.get("error", "load failed"))
        return State.WAITING, "no batch asked for yet"
    state = batch_state(batch) or "unknown"
    if state in FAILED_BATCH:
        return State.FAILED, f"batch {batch} {state}"
    if state == DONE_BATCH:
        return State.WAITING, f"batch {batch} SUCCEEDED, its ledger entry not written yet"
    return State.WAITING, f"batch {batch} {state}"


def _scalar(bq: Any, sql: str) -> int:
    rows = list(bq.query(sql).result())
    value = next(iter(rows[0].values())) if rows else None
    return int(value or 0)


def _warehouse(bq: Any, table: str, hour: Hour, expected: int) -> tuple[State, str]:
    dataset = table.rsplit(".", 1)[0]
    at = f"TIMESTAMP '{hour.start:%Y-%m-%d %H:%M:%S}+00'"
    loaded = _scalar(bq, f"SELECT COUNT(*) FROM `{table}` WHERE source_hour = {at}")
    if loaded != expected:
        return State.FAILED, f"{loaded} rows with source_hour {hour.key}, the normalizer wrote {expected}"
    stats = _scalar(bq, f"SELECT COALESCE(SUM(events), 0) FROM `{dataset}.hourly_stats` WHERE hour = {at}")
    recomputed = _scalar(
        bq,
        f"SELECT COUNT(DISTINCT CONCAT(id, '@', CAST(created_at AS STRING))) FROM `{table}` "
        f"WHERE TIMESTAMP_TRUNC(created_at, HOUR) = {at}",
    )
    if stats != recomputed or not stats:
        return State.FAILED, f"hourly_stats says {stats} events at {hour.key}, the events table {recomputed}"
    return State.DONE, f"{loaded} rows; hourly_stats {stats} events at {hour.key}"


def follow(hour: Hour, dep: Deployment) -> list[Step]:
    """Each stage's state now (stages after the first unfinished one are not looked at)."""
    hints = _hints(dep.settings)
    history = read_history(dep.raw, hour)
    steps: list[Step] = []
    state, detail = _ingest(history)
    steps.append(Step("ingest", state, detail, hints["ingest"]))
    if state is not State.DONE:
        return steps
    state, detail = _normalize(history)
    steps.append(Step("normalize", state, detail, hints["normalize"]))
    version = history.normalized_version()
    if state is not State.DONE or version is None:
        return steps
    state, detail = _batch(history, version.generation, dep.batch_state)
    steps.append(Step("batch", state, detail, hints["batch"]))
    if state is not State.DONE:
        return steps
    state, detail = _warehouse(dep.bigquery, dep.settings.bq_table, hour, version.events or 0)
    steps.append(Step("bigquery", state, detail, hints["bigquery"]))
    return steps


STAGES = ("ingest", "normalize", "batch", "bigquery")


def run_smoke(
    hour: Hour,
    dep: Deployment,
    publisher: Publisher,
    *,
    timeout: timedelta,
    poll_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_change: Callable[[list[Step]], None] = lambda _steps: None,
) -> list[Step]:
    """Send `hour`, then follow it until every stage is done, one failed, or `timeout` passed."""
    publisher.publish_hours(dep.settings.topic, [hour], load=HOURLY)
    deadline = clock() + timeout.total_seconds()
    last: list[Step] = []
    while True:
        steps = follow(hour, dep)
        if steps != last:
            on_change(steps)
            last = steps
        if steps[-1].state is State.FAILED or (len(steps) == len(STAGES) and steps[-1].state is State.DONE):
            return steps
        if clock() >= deadline:
            return steps
        sleep(poll_s)


def stuck(steps: list[Step]) -> Step | None:
    """The first stage that did not finish (None: the hour is in the warehouse)."""
    if len(steps) == len(STAGES) and steps[-1].state is State.DONE:
        return None
    return steps[-1]


def _cloud(settings: Settings) -> tuple[Deployment, Publisher]:
    from google.cloud import bigquery

    from ..context import cloud_context
    from ..load.dataproc import DataprocConfigError
    from ..publish import PubSubPublisher

    ctx = cloud_context(settings)  # the functions' own assembly: buckets, the Dataproc submitter
    try:
        state = ctx.loader.state  # type: ignore[attr-defined]
    except DataprocConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    dep = Deployment(settings, ctx.raw, state, bigquery.Client(project=settings.project))
    return dep, PubSubPublisher()


def _print(steps: list[Step]) -> None:
    for step in steps:
        click.echo(f"  {step.stage:<10} {step.state:<8} {step.detail}")


@click.command("smoke")
@deployment_option("Saved `terraform -chdir=terraform output -json` of the deployment.", required=True)
@click.option("--hour", "hour", type=HOUR, default=DEFAULT_HOUR, show_default=True, help="The hour to send.")
@click.option(
    "--timeout",
    type=click.IntRange(1, 24 * 60),
    default=45,
    show_default=True,
    help="Minutes to wait for the hour to reach BigQuery (a batch's start takes minutes).",
)
def smoke_command(deployment: Path, hour: Hour, timeout: int) -> None:
    """Send one small known hour through the deployed pipeline and follow it to BigQuery.

    \b
    Publishes the hour to the deployment's hours topic (loaded on its own, whatever hourly_load says),
    then prints each stage as it moves: ingest, normalize (counts), the Dataproc batch (its state),
    BigQuery (the hour's rows equal what the normalizer wrote; hourly_stats holds the hour). Exit 0
    when the hour is in the warehouse; else exit 1 naming the first stuck stage and what to check.
    """
    settings = Settings.from_deployment(deployment)
    dep, publisher = _cloud(settings)
    click.echo(f"smoke: {hour.key} -> {settings.topic}")
    steps = run_smoke(hour, dep, publisher, timeout=timedelta(minutes=timeout), on_change=_print_change)
    report(steps)


def _print_change(steps: list[Step]) -> None:
    last = steps[-1]
    click.echo(f"  {last.stage:<10} {last.state:<8} {last.detail}")


def report(steps: list[Step]) -> None:
    """The final table and, when stuck, the stage to look at (exit 1)."""
    click.echo("stages:")
    _print(steps)
    for name in STAGES[len(steps) :]:
        click.echo(f"  {name:<10} {'-':<8} not reached")
    blocked = stuck(steps)
    if blocked is None:
        click.echo("smoke passed: the hour is in BigQuery and in hourly_stats")
        return
    what = "failed" if blocked.state is State.FAILED else "did not finish in time"
    click.echo(f"smoke failed: {blocked.stage} {what} ({blocked.detail}); check {blocked.check}", err=True)
    raise SystemExit(1)


COMMANDS: list[click.Command] = [smoke_command]
