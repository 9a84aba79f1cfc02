#!/usr/bin/env python3
"""`make bench-day`: a whole modern-size day through `gharchive run` vs a one-statement DuckDB reference.

Builds 24 hours x 50,000 events of 2024-03-05 with $GHARCHIVE_SHARED/bench/make_day.py (default:
../shared next to the repository) into .bench/, then runs, in this one run and on the same files:
- `gharchive run 2024-03-05T00 2024-03-05T23 --source DIR --home FRESH` (ingest, normalize in
  parallel, one DuckDB day rebuild with its statistics; `--engine spark` with --spark),
- `reference_day_duckdb.py DIR OUT` (read every hour at once, dedupe, write parquet by hour).
Each contender runs `--runs` times, alternating with the reference (bench/common.py says why), each
run from a fresh folder: wall time, and the peak RSS summed over its whole process tree (the CLI and
its worker processes), polled every 50 ms from /proc/PID/statm (cheap: no smaps walk); medians are
reported, and the ratio to the reference pair by pair. Then both must give the same per-hour event
and commit counts (ours from `gharchive stats --by hour`).
Targets: median wall <= 1.0x the reference (with the rich typed columns), peak memory of the whole
run <= 2 GiB.

usage: run_bench_day.py [--events N] [--hours H] [--runs K] [--spark] [--workers N]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from common import BENCH_DIR, MIB, alternating, describe_ratios, load_line, pair_ratios, shared_dir

DAY = "2024-03-05"
TARGET_RATIO, TARGET_PEAK_MIB = 1.0, 2048
POLL_S = 0.05


def build_day(shared: Path, events: int, hours: int) -> Path:
    path = BENCH_DIR / f"day-{DAY}-{events}x{hours}"
    if not path.is_dir():
        print(f"building {hours} hours x {events:,} events of {DAY} in {path} ...", flush=True)
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make_day = shared / "bench" / "make_day.py"
        subprocess.run([sys.executable, str(make_day), str(tmp), DAY, str(events), str(hours)], check=True)
        tmp.rename(path)
    return path


def reference_counts(stdout: str) -> dict[str, tuple[int, int]]:
    """`hour events commits` lines of reference_day_duckdb.py -> {YYYY-MM-DDTHH: (events, commits)}."""
    counts = {}
    for line in stdout.splitlines():
        parts = line.rsplit(" ", 2)
        if len(parts) != 3:
            continue
        hour = datetime.fromisoformat(parts[0]).strftime("%Y-%m-%dT%H")
        counts[hour] = (int(parts[1]), int(float(parts[2])) if parts[2] != "None" else 0)
    return counts


def our_counts(home: Path) -> dict[str, tuple[int, int]]:
    gharchive = Path(sys.executable).parent / "gharchive"
    cmd = [str(gharchive), "stats", "--home", str(home), "--by", "hour", "--format", "csv"]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {r["hour"]: (int(r["events"]), int(r["commits"])) for r in csv.DictReader(io.StringIO(text))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000, help="events per hour")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per contender (median)")
    parser.add_argument("--spark", action="store_true", help="also time `gharchive run --engine spark`")
    parser.add_argument("--workers", type=int, default=0, help="gharchive run --workers (0: its default)")
    args = parser.parse_args()

    shared = shared_dir("make_day.py", "bench/make_day.py and reference_day_duckdb.py")
    day = build_day(shared, args.events, args.hours)
    work = BENCH_DIR / "day-work"
    gharchive = Path(sys.executable).parent / "gharchive"
    last = f"{DAY}T{args.hours - 1:02d}"
    engines = ["duckdb", "spark"] if args.spark else ["duckdb"]

    def run_cmd(engine: str) -> list[str]:
        cmd = [str(gharchive), "run", f"{DAY}T00", last, "--source", str(day), "--home",
               str(work / f"home-{engine}"), "--engine", engine]  # fmt: skip
        return cmd + (["--workers", str(args.workers)] if args.workers else [])

    #: name -> (command, the folder it writes: removed before each run, so every run starts fresh)
    contenders = {f"gharchive run ({e})": (run_cmd(e), work / f"home-{e}") for e in engines}
    contenders["reference_day_duckdb.py"] = (
        [
            sys.executable,
            str(shared / "bench" / "reference_day_duckdb.py"),
            str(day),
            str(work / "reference"),
        ],
        work / "reference",
    )
    gzip_mib = sum(p.stat().st_size for p in day.glob("*.json.gz")) / MIB
    print(f"input: {day} ({args.hours} hours, {gzip_mib:.0f} MiB gzip, {args.events * args.hours:,} events); "
          f"{load_line()}", flush=True)  # fmt: skip

    def fresh(name: str) -> None:
        shutil.rmtree(contenders[name][1], ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)

    results = alternating(
        {n: cmd for n, (cmd, _) in contenders.items()}, args.runs, before_each=fresh, poll_s=POLL_S
    )
    ref = results["reference_day_duckdb.py"]
    ours = results["gharchive run (duckdb)"]
    ratios = pair_ratios(ours, ref)
    print()
    print(f"medians of {args.runs} alternating runs; {load_line()}")
    print(
        f"{'contender':<28}{'wall s':>8}{'cpu s':>8}{'vs reference':>14}{'peak RSS MiB':>14}"
        f"{'largest proc':>14}"
    )
    for name, m in results.items():
        print(f"{name:<28}{m.median('wall'):>8.1f}{m.median('cpu'):>8.1f}"
              f"{m.median('wall') / ref.median('wall'):>14.2f}{m.median('tree_rss') / MIB:>14.0f}"
              f"{m.median('max_rss') / MIB:>14.0f}")  # fmt: skip
    print()
    expected = reference_counts(ref.last().stdout)
    peak = max(r.tree_rss for r in ours.runs)
    checks = [
        (f"wall time <= {TARGET_RATIO}x the reference", statistics.median(ratios) <= TARGET_RATIO,
         describe_ratios(ratios)),
        (f"peak memory of the whole run <= {TARGET_PEAK_MIB} MiB", peak <= TARGET_PEAK_MIB * MIB,
         f"{peak / MIB:.0f} MiB (the highest of the runs; RSS summed over the process tree)"),
    ]  # fmt: skip
    for engine in engines:
        got = our_counts(work / f"home-{engine}")
        same = got == expected
        events, commits = sum(e for e, _ in got.values()), sum(c for _, c in got.values())
        detail = f"{len(got)} hours, {events:,} events, {commits:,} commits"
        if not same:
            diff = sorted(h for h in set(got) | set(expected) if got.get(h) != expected.get(h))
            detail += f"; differ at {diff[:5]}"
        checks.append((f"same per-hour events and commits as the reference ({engine})", same, detail))
    for label, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value}")
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
