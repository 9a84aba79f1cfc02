"""PySpark entry point (Dataproc Serverless runs this file): rebuild UTC day partitions of `events`.

Thin: parses arguments and calls gharchive_pipeline.load (shipped as a zip via GHARCHIVE_SPARK_PY_FILES).
Each day is rebuilt whole from every curated hour that contributes to it (its own hours and the
hours its day-index markers name), deduplicated, and written over the partition; then the day's
statistics are recomputed. Days go one at a time, each under its lock in the curated bucket.

Arguments (what the spark_trigger function passes to the Dataproc batch):
  --day D               a UTC day, e.g. 2015-01-01 (repeatable), and/or
  --start-day D --end-day D   every day from start to end, both included, and/or
  --hour H              an hour, e.g. 2015-01-01T15 (repeatable): rebuild the days it touches, i.e.
                        its own day plus the days named by its markers (listed under days/ for the
                        day before and after) or by its curated object's `days` metadata
  --batch-id ID         recorded in each contributing hour's ledger (default: a fresh run id)
  --raw URL             raw bucket or directory holding the ledgers (optional: no ledger entries)
  --curated URL         curated bucket or directory: gs://bucket or /path
  --sink bigquery|local
  --table P.D.T         BigQuery events table, project.dataset.events (sink bigquery; it and the
                        hourly_stats/daily_stats tables of the dataset are created if missing)
  --temp-bucket B       bucket (or gs:// folder) for the staging parquet of the load jobs (sink bigquery)
  --warehouse DIR       local warehouse directory (sink local)
  --master M            Spark master for runs outside Dataproc, e.g. local[2] (default: from spark-submit)
  --lock-wait S         seconds to wait for a day another batch is writing (default 600)

Exit status: 0 when every day was rebuilt; 3 when some --hour had no curated file or some day had no
contributing hour (those partitions were left as they were; listed on stderr); 75 when another
batch held a day's lock past --lock-wait (transient: run again later); 1 on other errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

from gharchive_pipeline.hours import Hour, HourError
from gharchive_pipeline.load.day_lock import DEFAULT_WAIT, DayLocked
from gharchive_pipeline.load.days import LoadRun, day_range
from gharchive_pipeline.load.spark_days import DaySink, LoadError, days_for_hours, run_days
from gharchive_pipeline.load.spark_frames import build_session
from gharchive_pipeline.storage.base import open_storage

EXIT_MISSING = 3
EXIT_LOCKED = 75  # EX_TEMPFAIL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="load_events.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="A rebuild replaces whole day partitions (see docs/warehouse.md).",
    )
    p.add_argument("--day", action="append", default=[], help="UTC day YYYY-MM-DD to rebuild (repeatable)")
    p.add_argument("--start-day", help="first day of a range (with --end-day)")
    p.add_argument("--end-day", help="last day of a range, included")
    p.add_argument(
        "--hour", action="append", default=[], help="rebuild the days this hour touches (repeatable)"
    )
    p.add_argument("--batch-id", help="batch id recorded in the ledgers (default: a fresh run id)")
    p.add_argument("--raw", help="raw bucket/dir holding the hour ledgers (optional)")
    p.add_argument("--curated", required=True, help="curated bucket/dir: gs://bucket or a local directory")
    p.add_argument("--sink", choices=("bigquery", "local"), default="bigquery")
    p.add_argument("--table", help="BigQuery table project.dataset.events (sink bigquery)")
    p.add_argument("--temp-bucket", help="bucket or gs:// folder for staging parquet (sink bigquery)")
    p.add_argument("--warehouse", help="local warehouse directory (sink local)")
    p.add_argument("--master", help="Spark master outside Dataproc, e.g. local[2]")
    p.add_argument(
        "--lock-wait",
        type=float,
        default=DEFAULT_WAIT.total_seconds(),
        help="seconds to wait for a locked day",
    )
    p.add_argument(
        "--ttl-s",
        type=float,
        help="the batch's Dataproc TTL in seconds: its day locks say it is gone that long after start",
    )
    args = p.parse_args(argv)
    try:
        args.days = days_of(args)
        args.hours = sorted({Hour.parse(h) for h in args.hour})
    except (HourError, ValueError) as exc:
        p.error(str(exc))
    if not (args.days or args.hours):
        p.error("give --day D, --start-day D --end-day D or --hour H")
    if args.sink == "bigquery" and not (args.table and args.temp_bucket):
        p.error("--sink bigquery needs --table project.dataset.events and --temp-bucket")
    if args.sink == "local" and not args.warehouse:
        p.error("--sink local needs --warehouse DIR")
    args.batch_id = args.batch_id or f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    return args


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad day {text!r}: expected YYYY-MM-DD, e.g. 2015-01-01") from None


def days_of(args: argparse.Namespace) -> list[date]:
    days = {_day(d) for d in args.day}
    if args.start_day or args.end_day:
        if not (args.start_day and args.end_day):
            raise ValueError("--start-day and --end-day go together")
        days.update(day_range(_day(args.start_day), _day(args.end_day)))
    return sorted(days)


def make_sink(args: argparse.Namespace) -> DaySink:
    if args.sink == "local":
        from pathlib import Path

        from gharchive_pipeline.load.spark_local import SparkLocalSink

        return SparkLocalSink(Path(args.warehouse))
    from gharchive_pipeline.load.bigquery_sink import BigQuerySink, staging_uri

    return BigQuerySink(args.table, staging_uri(args.temp_bucket, args.batch_id))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    curated = open_storage(args.curated)
    raw = open_storage(args.raw) if args.raw else None
    hour_days, missing = days_for_hours(curated, args.hours)
    days = sorted({*args.days, *hour_days})
    # the batch was created, then started: Dataproc ends it no later than start + TTL
    deadline = datetime.now(UTC) + timedelta(seconds=args.ttl_s) if args.ttl_s else None
    spark = build_session("gharchive-load-events", master=args.master)
    try:
        result: LoadRun = run_days(
            spark,
            curated,
            days,
            make_sink(args),
            batch_id=args.batch_id,
            raw=raw,
            missing_hours=missing,
            lock_wait=timedelta(seconds=args.lock_wait),
            deadline=deadline,
        )
    except DayLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"batch {result.batch_id}: rebuilt {len(result.days)} days from {len(result.hours)} hours, "
        f"{result.rows} rows ({result.duplicates} copies dropped) into {result.target} "
        f"in {result.seconds:.1f}s"
    )
    problems = []
    if result.missing_hours:
        problems.append("no curated file for hours: " + ", ".join(h.key for h in result.missing_hours))
    if result.empty_days:
        problems.append("no contributing hour for days: " + ", ".join(map(str, result.empty_days)))
    for line in problems:
        print(line, file=sys.stderr)
    return EXIT_MISSING if problems else 0


if __name__ == "__main__":
    sys.exit(main())
