"""PySpark entry point (Dataproc Serverless runs this file): load curated GH Archive hours into `events`.

Thin: parses arguments and calls gharchive_pipeline.load (shipped as a zip via GHARCHIVE_SPARK_PY_FILES).

Arguments (what the spark_trigger function passes to the Dataproc batch):
  --hour H             one hour, e.g. 2015-01-01T15 (repeatable), or
  --start H --end H    every hour from start to end, both included
  --curated URL        curated bucket or directory: gs://bucket or /path (files at
                       events/date=YYYY-MM-DD/hour=HH/events.parquet)
  --sink bigquery|local
  --table P.D.T        BigQuery events table, project.dataset.events (sink bigquery; created if missing,
                       DAY-partitioned on created_at, clustered by type, repo_name, actor_login)
  --temp-bucket B      bucket (or gs:// folder) for the staging parquet of the BigQuery load (sink bigquery)
  --warehouse DIR      local warehouse directory (sink local; the parquet dataset goes to DIR/events)
  --master M           Spark master for runs outside Dataproc, e.g. local[2] (default: from spark-submit)

Exit status: 0 when every hour was loaded, 3 when some hours had no curated file (nothing was changed
for them; they are listed on stderr), 1 on errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from datetime import UTC, datetime

from gharchive_pipeline.hours import Hour, HourError, hour_range
from gharchive_pipeline.load.job import LoadResult, Sink, run_load
from gharchive_pipeline.load.spark_job import build_session

EXIT_MISSING = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="load_events.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Loading replaces exactly the given source hours' rows (see docs/warehouse.md).",
    )
    p.add_argument("--hour", action="append", default=[], help="hour to load (repeatable)")
    p.add_argument("--start", help="first hour of a range (with --end)")
    p.add_argument("--end", help="last hour of a range, included")
    p.add_argument("--curated", required=True, help="curated bucket/dir: gs://bucket or a local directory")
    p.add_argument("--sink", choices=("bigquery", "local"), default="bigquery")
    p.add_argument("--table", help="BigQuery table project.dataset.events (sink bigquery)")
    p.add_argument("--temp-bucket", help="bucket or gs:// folder for staging parquet (sink bigquery)")
    p.add_argument("--warehouse", help="local warehouse directory (sink local)")
    p.add_argument("--master", help="Spark master outside Dataproc, e.g. local[2]")
    args = p.parse_args(argv)
    try:
        args.hours = hours_of(args)
    except HourError as exc:
        p.error(str(exc))
    if args.sink == "bigquery" and not (args.table and args.temp_bucket):
        p.error("--sink bigquery needs --table project.dataset.events and --temp-bucket")
    if args.sink == "local" and not args.warehouse:
        p.error("--sink local needs --warehouse DIR")
    return args


def hours_of(args: argparse.Namespace) -> list[Hour]:
    hours = [Hour.parse(h) for h in args.hour]
    if args.start or args.end:
        if not (args.start and args.end):
            raise HourError("--start and --end go together")
        hours += list(hour_range(Hour.parse(args.start), Hour.parse(args.end)))
    if not hours:
        raise HourError("give --hour H or --start H --end H")
    return sorted(set(hours))


def make_sink(args: argparse.Namespace) -> Sink:
    if args.sink == "local":
        from pathlib import Path

        from gharchive_pipeline.load.local_warehouse import LocalWarehouseSink

        return LocalWarehouseSink(Path(args.warehouse))
    from gharchive_pipeline.load.bigquery_sink import BigQuerySink, staging_uri

    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    return BigQuerySink(args.table, staging_uri(args.temp_bucket, run_id))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    spark = build_session("gharchive-load-events", master=args.master)
    result: LoadResult = run_load(spark, args.curated, args.hours, make_sink(args))
    print(
        f"loaded {len(result.loaded)} hours, {result.rows} rows ({result.duplicates} duplicates dropped) "
        f"into {result.target} in {result.seconds:.1f}s"
    )
    if result.missing:
        print("no curated file for: " + ", ".join(h.key for h in result.missing), file=sys.stderr)
        return EXIT_MISSING
    return 0


if __name__ == "__main__":
    sys.exit(main())
