"""`gharchive load`: the load sweep. Finds curated hours not loaded at their current generation and
asks for one load per day (or month) that covers them: a Dataproc batch in the cloud (deterministic
ids; a FAILED batch is resubmitted with an attempt suffix), the local runner's day loads at home."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from ..context import Context, cloud_context, local_context
from ..hours import Hour, HourError
from ..settings import ENV_CURATED_BUCKET, ENV_PROJECT, ENV_RAW_BUCKET, ENV_REGION, Settings
from ..storage.base import Storage, StorageError
from .options import deployment_option, deployment_settings, home_option


class DayParam(click.ParamType):
    """A UTC day: `2015-01-01`, or any hour of it (`2015-01-01T15`)."""

    name = "DAY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value)
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return Hour.parse(text).start.date()
        except HourError as exc:
            self.fail(f"{text!r} is neither a day (2015-01-01) nor an hour: {exc}", param, ctx)


DAY = DayParam()


def _open(ctx: Context, role: str, what: str) -> Storage:
    try:
        return ctx.raw if role == "raw" else ctx.curated
    except StorageError as exc:
        url = ctx.settings.raw_bucket if role == "raw" else ctx.settings.curated_bucket
        raise click.ClickException(f"{what} {url}: {exc}") from exc


@click.command("load")
@click.argument("start", type=DAY)
@click.argument("end", type=DAY, required=False)
@home_option("Local home (DIR/raw, DIR/curated); ignored with --project.")
@deployment_option(
    "Saved `terraform output -json` of the deployment: every cloud setting from it "
    "(--project, --region, --raw, --curated still override)."
)
@click.option(
    "--project", envvar=ENV_PROJECT, default="", help="Google Cloud project: submit Dataproc batches."
)
@click.option("--region", envvar=ENV_REGION, default="", help="Dataproc region (with --project).")
@click.option("--raw", "raw_url", envvar=ENV_RAW_BUCKET, default="", help="Raw bucket gs://... (ledgers).")
@click.option(
    "--curated", "curated_url", envvar=ENV_CURATED_BUCKET, default="", help="Curated bucket gs://..."
)
@click.option(
    "--per",
    type=click.Choice(["day", "month"]),
    default="day",
    show_default=True,
    help="One load per UTC day, or one per calendar month (--start-day/--end-day).",
)
@click.option(
    "--unsettled",
    is_flag=True,
    help="Also days with hours still to be ingested or normalized (default: only settled days, "
    "whose last hour's trigger would otherwise submit them).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be submitted; submit nothing.")
def load_command(
    start: date,
    end: date | None,
    home: Path,
    deployment: Path | None,
    project: str,
    region: str,
    raw_url: str,
    curated_url: str,
    per: str,
    unsettled: bool,
    dry_run: bool,
) -> None:
    """Load every day from START to END (UTC days, both included) that has curated hours not loaded
    at their current generation, with one load per day (or month).

    \b
    Cloud (--deployment FILE, the saved `terraform -chdir=terraform output -json`): Dataproc
    batches with the deployment's settings. Without a file, --project and the GHARCHIVE_*
    variables the spark_trigger function gets (docs/deploy.md lists them) give them instead.
    Hours whose batch is still pending or running are left alone; a FAILED batch is submitted again
    under a new attempt id. Prints one line per load; safe to run again at any time.
    """
    from ..stages.sweep import Per

    last = end or start
    if last < start:
        raise click.BadParameter(f"END {last} is before START {start}", param_hint="END")
    raw, curated, loader, states = _assemble(home, deployment, project, region, raw_url, curated_url)
    if dry_run:
        from ..stages.sweep import find_work, plan

        work = find_work(raw, curated, start, last, states=states, now=datetime.now(UTC))
        planned = plan([w for w in work if w.settled or unsettled], curated.url, Per(per))
        _print_plan(planned, start, last)
        return
    from ..stages.sweep import sweep

    # errors of the tree (a held lock, a bucket, a refused load) are one line by cli/errors.py
    report = sweep(raw, curated, start, last, loader, per=Per(per), states=states, unsettled=unsettled)
    _print_sweep(report, start, last)


def _assemble(
    home: Path, deployment: Path | None, project: str, region: str, raw_url: str, curated_url: str
) -> tuple[Storage, Storage, Any, Any]:
    """(raw, curated, loader, batch states) from cloud_context (--deployment, --project) or
    local_context (HOME)."""
    if deployment is not None:
        settings = deployment_settings(
            deployment, project=project, region=region, raw_bucket=raw_url, curated_bucket=curated_url
        )
    elif project:
        env = Settings.from_env()
        settings = dataclasses.replace(
            env, project=project, region=region or env.region, raw_bucket=raw_url, curated_bucket=curated_url
        )
        if not (raw_url and curated_url):
            raise click.UsageError("--project needs --raw and --curated (or GHARCHIVE_RAW/CURATED_BUCKET)")
    else:
        from ..load.local_warehouse import clean_leftovers

        clean_leftovers(home / "warehouse")  # what a killed load or run left (a live one's is kept)
        ctx = local_context(home, load_now=True)
        raw, curated = _open(ctx, "raw", "raw"), _open(ctx, "curated", "curated")
        return raw, curated, ctx.loader, None
    ctx = cloud_context(settings)
    loader, states = _cloud(ctx)  # settings first: a missing one is the clearer error
    return _open(ctx, "raw", "raw bucket"), _open(ctx, "curated", "curated bucket"), loader, states


def _print_plan(planned: list[tuple[Any, int]], start: date, last: date) -> None:
    for request, pending in planned:
        click.echo(f"{_span(request)}: would load {pending} pending hour(s) ({len(request.covers)} covered)")
    click.echo(f"{len(planned)} load(s) would be submitted for {start}..{last}")


def _print_sweep(report: Any, start: date, last: date) -> None:
    for item in report.swept:
        batch = f" {item.result.batch_id}" if item.result.batch_id else ""
        state = item.result.details.get("batch_state")
        extra = f", batch {state}" if state else ""
        click.echo(
            f"{_span(item.request)}: {item.result.outcome}{batch} "
            f"({item.pending} pending hour(s), {len(item.request.covers)} covered{extra})"
        )
    for day in report.waiting:
        click.echo(
            f"{day.day}: not settled, left alone ({len(day.waiting)} hour(s) waiting, first "
            f"{day.waiting[0].key}; --unsettled loads it now)"
        )
    if report.deferred:
        click.echo(
            f"{len(report.deferred)} load(s) deferred from {_span(report.deferred[0])}: BigQuery allows "
            "30,000 partition modifications per table a day; run the same command again tomorrow"
        )
    click.echo(f"{len(report.swept)} load(s) for {start}..{last}")


def _span(request: Any) -> str:
    if request.day_range is not None:
        first, last = request.day_range
        return f"{first}..{last}"
    return str(request.days[0])


def _cloud(ctx: Context) -> tuple[Any, Any]:
    from ..load.dataproc import DataprocConfigError

    try:
        submitter = ctx.loader
    except DataprocConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return submitter, getattr(submitter, "state", None)


COMMANDS: list[click.Command] = [load_command]
