"""`gharchive run` and `gharchive status`: the whole chain on one machine, and what happened per hour."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..hours import DEFAULT_BASE_URL, Hour
from . import output
from .options import home_option, hour_arguments, usable_source, window

#: `--engine` choices and defaults, spelled here so `gharchive --help` imports neither DuckDB nor
#: Spark (load/local_load.py's Engine and DuckDBConfig; a test keeps them in step).
ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
DEFAULT_MEMORY_LIMIT = "1GB"


def _console() -> Any:
    return output.console()


@click.command("run")
@hour_arguments(start_required=True)
@click.option(
    "--source",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="GH Archive base URL (http/https) or a local directory of hour files. Without network, a "
    "directory: the source tree's data/gharchive holds real sample hours (2015-01-01T00..05, some "
    "missing on purpose).",
)
@home_option()
@click.option(
    "--follow",
    is_flag=True,
    help="Keep going (the local Cloud Scheduler): from START on (to END if given, else forever) take "
    "each hour once GH Archive publishes it (30 min after it ends), asking again for late hours and "
    "backing off while the source is down. A restart resumes from the ledgers in HOME; SIGINT/SIGTERM "
    "finish the current hour and stop (twice: stop now). See docs/operations.md.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="What rebuilds the day partitions: DuckDB (fast start, memory bounded) or local PySpark "
    "(the cloud job's code path, for parity; starts a JVM).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Hours going through the chain at once, one process each (default: the core count, at most "
    "as many as keep the whole run under 2 GiB: 2).",
)
@click.option(
    "--memory-limit",
    default=DEFAULT_MEMORY_LIMIT,
    show_default=True,
    help="DuckDB's memory limit for a day rebuild (it spills to disk beyond it), e.g. 512MB, 2GB.",
)
def run_command(
    start: Hour,
    end: Hour | None,
    source: str,
    home: Path,
    follow: bool,
    engine: str,
    workers: int | None,
    memory_limit: str,
) -> None:
    """Download, normalize and load every hour from START to END (inclusive) through the local event chain.

    \b
    The same Cloud Function handlers as in the cloud receive the same CloudEvents; storage is local
    directories. Hours are normalized in parallel; then each UTC day they touch is rebuilt once in
    the local warehouse (DuckDB by default), with its statistics. Idempotent: running a range again
    changes nothing, and resumes an interrupted run. Hours GH Archive does not have show as missing.

    \b
    Offline, on the sample hours in the source tree:
      gharchive run 2015-01-01T00 2015-01-01T05 --source data/gharchive
    """
    from ..load.duckdb_days import DuckDBConfig
    from ..load.local_load import Engine
    from ..local.runner import run_hours

    first, last = window(start, end)
    # --follow waits out a source that is down (at boot the network may come later)
    usable_source(source, reach=not follow)
    if follow:
        from ..local.follow import follow_command

        sys.exit(follow_command(start, end, home=home, source=source, echo=click.echo))
    console = _console()
    with _RunProgress(console, hours=first.hours_until(last) + 1) as progress:
        report = run_hours(
            first,
            last,
            home=home,
            source=source,
            progress=progress,
            engine=Engine(engine),
            workers=workers,
            duckdb=DuckDBConfig(memory_limit=memory_limit),
        )
        progress.days_total(len(report.days) + len(report.day_failures))
    _print_run(console, report, title=f"gharchive run {first.key}..{last.key} ({home})")
    if not report.ok:
        sys.exit(1)


class _RunProgress:
    """`gharchive run`'s two progress bars: hours through the chain, days loaded."""

    def __init__(self, console: Any, *, hours: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bars = Progress(
            output.text_column("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            output.text_column("{task.fields[last]}"),
            console=console,
            transient=False,
        )
        self.hours = self.bars.add_task("hours", total=hours, last="")
        self.days = self.bars.add_task("days loaded", total=None, last="")

    def __enter__(self) -> _RunProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bars.__exit__(*exc)

    def hour_done(self, row: Any) -> None:
        self.bars.update(self.hours, advance=1, last=f"{row.hour.key}: {row.raw}/{row.normalized}")

    def day_done(self, result: Any) -> None:
        from ..local.runner import DayFailure

        if isinstance(result, DayFailure):
            text = f"{result.day}: failed"
        elif result.load is None:
            text = f"{result.day}: already current"
        else:
            text = f"{result.day}: {result.load.rows:,} events from {len(result.contributors)} hours"
        self.bars.update(self.days, advance=1, last=text)

    def days_total(self, days: int) -> None:
        self.bars.update(self.days, total=days)


def _print_run(console: Any, report: Any, *, title: str) -> None:
    """The run's table, its log file, and every failure in red."""
    from ..local.status import render_table

    console.print(render_table(report.rows, title=title))
    esc = output.esc
    console.print(f"log: {esc(report.log_file)}")
    for failure in report.failures:
        console.print(
            f"[red]{esc(failure.function)} failed on {esc(failure.subject)} after {failure.attempts} "
            f"attempts: {esc(failure.error)}[/red]"
        )
    for day_failure in report.day_failures:
        console.print(f"[red]load of day {day_failure.day} failed: {esc(day_failure.error)}[/red]")


@click.command("status")
@hour_arguments(start_required=False)
@home_option()
@click.option(
    "--raw",
    "raw_url",
    metavar="URL",
    default=None,
    help="Read a deployment's buckets instead of a home: the raw bucket (gs://BUCKET or a directory), "
    "whose ledgers say what happened to each hour (the Terraform output raw_bucket).",
)
@click.option(
    "--curated",
    "curated_url",
    metavar="URL",
    default=None,
    help="With --raw: the curated bucket too, for what only its objects hold (the current version, "
    "its counts, a curated file deleted since).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hour instead of a table.")
def status_command(
    start: Hour | None,
    end: Hour | None,
    home: Path,
    raw_url: str | None,
    curated_url: str | None,
    as_json: bool,
) -> None:
    """For each hour: raw stored / missing / corrupt, events normalized, rejects, loaded (by which
    batch), and timings.

    \b
    Without START/END: every hour the buckets know about. Reads a home (--home), or a deployment's
    buckets (--raw URL [--curated URL]; the ledgers are read in parallel).
    """
    from ..context import cloud_context, local_context
    from ..hours import hour_range
    from ..local.status import render_table, status_report
    from ..settings import Settings

    if curated_url and not raw_url:
        raise click.UsageError("--curated needs --raw (the ledgers are in the raw bucket)")
    if raw_url:
        _check_existing(raw_url, "--raw")
        if curated_url:
            _check_existing(curated_url, "--curated")
        ctx = cloud_context(Settings(raw_bucket=raw_url, curated_bucket=curated_url or ""))
        raw, curated = ctx.raw, ctx.curated if curated_url else None
        where = raw_url + (f" + {curated_url}" if curated_url else "")
    else:
        if not home.is_dir():
            raise click.ClickException(f"no home at {home} (run `gharchive run` first)")
        ctx = local_context(home)
        raw, curated = ctx.raw, ctx.curated
        where = str(home)
    first, last = window(start, end)
    hours = list(hour_range(first, last)) if first and last else None
    report = status_report(raw, curated, hours)
    for name in report.strays:
        shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)  # no terminal escapes
        click.echo(f"ignored {shown}: named like an hour's object, but no real hour", err=True)
    if as_json:
        for row in report.rows:
            click.echo(json.dumps(row.to_json()))
        return
    _console().print(render_table(report.rows, title=f"gharchive status ({where})"))


def _check_existing(url: str, option: str) -> None:
    """A bucket URL or an existing directory (opening a missing directory would create it)."""
    if "://" not in url and not Path(url).is_dir():
        raise click.BadParameter(f"no directory {url!r}", param_hint=option)
    if "://" in url and not url.startswith("gs://"):
        raise click.BadParameter(f"{url!r}: expected gs://BUCKET or a directory", param_hint=option)


COMMANDS: list[click.Command] = [run_command, status_command]
