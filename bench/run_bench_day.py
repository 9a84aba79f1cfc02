#!/usr/bin/env python3
"""`make bench-day`: a whole modern-size day through `gharchive run` vs a one-statement DuckDB reference.

Builds 24 hours x 50,000 events of 2024-03-05 with $GHARCHIVE_SHARED/bench/make_day.py (default:
../shared next to the repository) into .bench/, then runs, in this one run and on the same files:
- `gharchive run 2024-03-05T00 2024-03-05T23 --source DIR --home FRESH` (ingest, normalize in
  parallel, one DuckDB day rebuild with its statistics; `--engine spark` with --spark),
- `reference_day_duckdb.py DIR OUT` (read every hour at once, dedupe, write parquet by hour).
Each contender: wall time, and the peak RSS summed over its whole process tree (the CLI and its
worker processes), polled every 50 ms from /proc/PID/statm (cheap: no smaps walk). Then both must
give the same per-hour event and commit counts (ours from `gharchive stats --by hour`).
Targets (issue 11): wall <= 1.5x the reference, peak memory of the whole run <= 2 GiB.

usage: run_bench_day.py [--events N] [--hours H] [--repeat K] [--spark] [--workers N]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
MIB = 1024 * 1024
DAY = "2024-03-05"
TARGET_RATIO, TARGET_PEAK_MIB = 1.5, 2048
POLL_S = 0.05


@dataclass(frozen=True)
class Measure:
    wall: float
    cpu: float  # user + system of the whole tree (reaped children included)
    peak_rss: int  # peak of RSS summed over the process tree
    stdout: str


def shared_dir() -> Path:
    shared = Path(os.environ.get("GHARCHIVE_SHARED", ROOT.parent / "shared"))
    if not (shared / "bench" / "make_day.py").is_file():
        sys.exit(
            f"bench-day: {shared}/bench/make_day.py not found; set GHARCHIVE_SHARED to the folder "
            "that holds bench/make_day.py and reference_day_duckdb.py"
        )
    return shared


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


def measured(cmd: list[str]) -> Measure:
    """Run `cmd`, polling the RSS of its process tree; exit with its stderr if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=out, stderr=err)
        peak = 0
        while proc.poll() is None:
            total = 0
            try:
                for p in [proc, *proc.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                break
            peak = max(peak, total)
            time.sleep(POLL_S)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")
            sys.exit(f"bench-day: {' '.join(cmd)} failed ({proc.returncode}):\n{message}")
        out.seek(0)
        return Measure(wall, cpu, peak, out.read().decode(errors="replace"))


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
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the fastest counts")
    parser.add_argument("--spark", action="store_true", help="also time `gharchive run --engine spark`")
    parser.add_argument("--workers", type=int, default=0, help="gharchive run --workers (0: its default)")
    args = parser.parse_args()

    shared = shared_dir()
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
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    results: dict[str, Measure] = {}
    for name, (cmd, output) in contenders.items():
        runs = []
        for i in range(args.repeat):
            shutil.rmtree(output, ignore_errors=True)
            work.mkdir(parents=True, exist_ok=True)
            print(f"running {name} ({i + 1}/{args.repeat}) ...", flush=True)
            runs.append(measured(cmd))
        results[name] = min(runs, key=lambda m: m.wall)

    ref = results["reference_day_duckdb.py"]
    ours = results["gharchive run (duckdb)"]
    print()
    print(f"{'contender':<28}{'wall s':>8}{'cpu s':>8}{'vs reference':>14}{'peak RSS MiB':>14}")
    for name, m in results.items():
        print(f"{name:<28}{m.wall:>8.1f}{m.cpu:>8.1f}{m.wall / ref.wall:>14.2f}{m.peak_rss / MIB:>14.0f}")
    print()
    expected = reference_counts(ref.stdout)
    checks = [
        (f"wall time <= {TARGET_RATIO}x the reference", ours.wall / ref.wall <= TARGET_RATIO,
         f"{ours.wall / ref.wall:.2f}x"),
        (f"peak memory of the whole run <= {TARGET_PEAK_MIB} MiB", ours.peak_rss <= TARGET_PEAK_MIB * MIB,
         f"{ours.peak_rss / MIB:.0f} MiB (RSS summed over the process tree)"),
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
