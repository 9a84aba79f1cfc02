#!/usr/bin/env python3
"""`gharchive status --raw gs://…` over a month: 744 hour ledgers read from fake-gcs-server with real
google-cloud-storage calls, in the status command's threads and (for comparison) one at a time.

Each hour gets what a complete backfilled hour has: a raw object (a few bytes: status only lists
them) and a ledger of five entries (ingest stored, normalize normalized, load deferred, submitted,
loaded) as the stages write them. The month is written once, then read `--repeat` times; the figure
is the best wall time of the whole command (listing, reading, rendering the JSON lines).

usage: run_bench_status.py [--month 2015-01] [--repeat 3]
"""

from __future__ import annotations

import argparse
import calendar
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gharchive_pipeline import layout  # noqa: E402
from gharchive_pipeline.hours import Hour, hour_range  # noqa: E402
from gharchive_pipeline.ledger import LedgerEntry, append_entry  # noqa: E402
from gharchive_pipeline.local import status  # noqa: E402
from gharchive_pipeline.storage import Storage  # noqa: E402
from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket  # noqa: E402

AT = datetime(2026, 1, 1, tzinfo=UTC)


def write_hour(raw: Storage, hour: Hour) -> None:
    info = raw.put_bytes(layout.raw_object(hour), b"gz")
    batch = f"gharchive-day-{hour.date}"
    for stage, outcome, details in (
        ("ingest", "stored", {"raw_generation": info.generation, "bytes": 2, "seconds": 0.4}),
        (
            "normalize",
            "normalized",
            {"raw_generation": info.generation, "curated_generation": 7, "events": 9},
        ),
        ("load", "deferred", {"curated_generation": 7, "day": hour.date}),
        ("load", "submitted", {"curated_generation": 7, "batch_id": batch}),
        ("load", "loaded", {"curated_generation": 7, "batch_id": batch, "seconds": 30.0}),
    ):
        append_entry(raw, hour, LedgerEntry(stage, outcome, AT, dict(details)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2015-01")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    year, month = map(int, args.month.split("-"))
    first = Hour.parse(f"{args.month}-01T00")
    last = Hour.parse(f"{args.month}-{calendar.monthrange(year, month)[1]:02d}T23")
    hours = list(hour_range(first, last))

    from gharchive_pipeline.cli import cli

    with fake_gcs_server():
        raw = new_gcs_bucket(prefix="bench-raw")
        started = time.perf_counter()
        with ThreadPoolExecutor(status.THREADS) as pool:
            list(pool.map(lambda h: write_hour(raw, h), hours))
        print(f"wrote {len(hours)} hours (ledger + raw object) in {time.perf_counter() - started:.1f} s")

        def run(threads: int) -> float:
            status.THREADS = threads
            best = float("inf")
            for _ in range(args.repeat):
                out = io.StringIO()
                started = time.perf_counter()
                with redirect_stdout(out):
                    cli.main(
                        ["status", first.key, last.key, "--raw", raw.url, "--json"], standalone_mode=False
                    )
                best = min(best, time.perf_counter() - started)
                assert out.getvalue().count('"loaded": "loaded"') == len(hours), "not every hour read back"
            return best

        threaded = status.THREADS
        print(f"status --raw, {threaded} threads: {run(threaded):.2f} s (best of {args.repeat})")
        print(f"status --raw, 1 thread:   {run(1):.2f} s (best of {args.repeat})")


if __name__ == "__main__":
    main()
