#!/usr/bin/env python3
"""`make bench`: our normalizer vs the pandas seed and a DuckDB one-statement reference.

Builds a 200k-event hour with $GHARCHIVE_SHARED/bench/make_big_hour.py (default: ../shared next to
the repository) into .bench/, then runs each contender in its own subprocess on that file: ours and
the reference `--runs` times each, alternating (bench/common.py says why), the seed once. Timed
runs are not observed while they run: wall time, CPU time and the kernel's peak RSS come from
wait4; medians are reported, and the ratio to the reference pair by pair. Memory over the whole
process tree (worker processes count too) is measured in one
extra run, polled with psutil every 10 ms: RSS summed (counts pages shared by forked workers once
per process, an over-estimate) and PSS summed (shared pages split; what the run really uses).
Polling /proc/PID/smaps slows the polled process (~1 s of a 3 s run here), hence the separate run.
Targets: median time ratio to the DuckDB reference <= 0.80 (with the rich typed columns), peak
memory <= 512 MiB, at least 5x faster than the seed. `--workers N` passes through to `gharchive normalize`.

Then a big hour through the local load: a 1,000,000-event hour (`--big-load N`, 0 to
skip) is normalized into a fresh home's curated bucket and its day rebuilt by the local day loader
(DuckDB, its default memory_limit), in a process of its own: wall time and kernel peak RSS (wait4),
checked against BIG_LOAD_MIB. `--big-load-spark` also loads it with local PySpark.

usage: run_bench.py [--events N] [--runs K] [--skip-seed] [--workers N] [--big-load N] [--big-load-spark]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
from common import (
    BENCH_DIR,
    MIB,
    Series,
    alternating,
    describe_ratios,
    load_line,
    pair_ratios,
    run,
    shared_dir,
)

TARGET_RATIO, TARGET_RSS_MIB, TARGET_SPEEDUP = 0.80, 512, 5.0
#: The bound the README states for loading one hour locally, whatever its size (DuckDB spills past
#: its memory_limit of 1 GB; the process adds Python, Arrow and the parquet writer's buffers).
BIG_LOAD_MIB = 1536
BIG_HOUR = "2015-01-01T00"  # make_big_hour.py keeps the 2015-01-01 timestamps of its sources
#: The load, as `gharchive run` does it for a settled day (force: the day is rebuilt every time).
LOAD_SNIPPET = """
import sys
from datetime import date
from pathlib import Path
from gharchive_pipeline.load.local_load import Engine, LocalDayLoader
result = LocalDayLoader(Path(sys.argv[1]), engine=Engine(sys.argv[2])).rebuild(date(2015, 1, 1), force=True)
print(result.load.rows)
"""


def build_hour(shared: Path, events: int) -> Path:
    path = BENCH_DIR / f"big-{events}.json.gz"
    if not path.exists():
        BENCH_DIR.mkdir(exist_ok=True)
        print(f"building a {events:,}-event hour in {path} ...", flush=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run(
            [sys.executable, str(shared / "bench" / "make_big_hour.py"), str(tmp), str(events)], check=True
        )
        tmp.rename(path)
    return path


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall time, CPU time and kernel peak RSS of one run, with nothing polling the process."""
    r = run(cmd)
    return r.wall, r.cpu, r.max_rss


def polled_memory(cmd: list[str]) -> tuple[int, int]:
    """Peak RSS and PSS summed over the process tree, polled every 10 ms (worker processes count too).

    Polling reads /proc/PID/smaps, which walks the process's page tables under its memory lock: it
    slows the process down, so memory is measured in a run of its own, never in a timed one."""
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = peak_pss = 0
    while proc.poll() is None:
        total = total_pss = 0
        try:
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    memory = p.memory_full_info()
                    total += memory.rss
                    total_pss += getattr(memory, "pss", memory.rss)
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            break
        peak, peak_pss = max(peak, total), max(peak_pss, total_pss)
        time.sleep(0.01)
    return peak, peak_pss


#: columns both outputs have and mean the same by (payload differs: ours has e-mails hashed)
SHARED_COLUMNS = ("id", "type", "public", "created_at", "actor_id", "actor_login", "repo_id", "repo_name",
                  "org_id", "org_login")  # fmt: skip


def same_events(ours: Path, reference: Path) -> tuple[bool, str]:
    """Whether our parquet holds exactly the reference's events (a speed-up must not drop rows)."""
    import pyarrow.parquet as pq

    def rows(path: Path) -> pa.Table:
        table = pq.read_table(path, columns=list(SHARED_COLUMNS))
        return table.cast(pa.schema([table.schema.field(c) for c in SHARED_COLUMNS])).sort_by("id")

    mine, theirs = rows(ours), rows(reference)
    if len(mine) != len(theirs):
        return False, f"{len(mine):,} rows vs {len(theirs):,}"
    differing = [c for c in SHARED_COLUMNS if not mine[c].equals(theirs[c])]
    if differing:
        return False, f"differing columns: {', '.join(differing)}"
    return True, f"{len(mine):,} rows, {len(SHARED_COLUMNS)} columns equal"


def big_load(shared: Path, events: int, engines: list[str]) -> None:
    """Normalize a big hour into a fresh home, then time the local day load of it (see module doc)."""
    from gharchive_pipeline import layout
    from gharchive_pipeline.hours import Hour

    hour = build_hour(shared, events)
    home = BENCH_DIR / f"big-load-{events}"
    curated = home / "curated" / layout.curated_object(Hour.parse(BIG_HOUR))
    if not curated.exists():
        print(f"normalizing {hour.name} into {curated} ...", flush=True)
        curated.parent.mkdir(parents=True, exist_ok=True)
        gharchive = Path(sys.executable).parent / "gharchive"
        cmd = [str(gharchive), "normalize", str(hour), str(curated), "--hour", BIG_HOUR]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print()
    print(f"{'local load of one hour':<34}{'events':>11}{'wall s':>8}{'cpu s':>8}{'peak RSS MiB':>14}")
    for engine in engines:
        wall, cpu, max_rss = timed([sys.executable, "-c", LOAD_SNIPPET, str(home), engine])
        name = f"LocalDayLoader ({engine})"
        print(f"{name:<34}{events:>11,}{wall:>8.1f}{cpu:>8.1f}{max_rss / MIB:>14.0f}")
        if engine == "duckdb":
            ok = max_rss <= BIG_LOAD_MIB * MIB
            print(f"{'PASS' if ok else 'MISS'}  peak memory of the {events:,}-event hour's load <= "
                  f"{BIG_LOAD_MIB} MiB: {max_rss / MIB:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="alternating runs of ours and the reference (median)"
    )
    parser.add_argument("--skip-seed", action="store_true", help="skip the (slow) pandas seed")
    parser.add_argument("--workers", type=int, default=0, help="gharchive normalize --workers")
    parser.add_argument(
        "--big-load", type=int, default=1_000_000, help="events of the big hour loaded (0: skip)"
    )
    parser.add_argument(
        "--big-load-spark", action="store_true", help="also load the big hour with local Spark"
    )
    args = parser.parse_args()

    shared = shared_dir("make_big_hour.py", "bench/make_big_hour.py, seed_like.py and reference_duckdb.py")
    hour = build_hour(shared, args.events)
    out = BENCH_DIR / "out"
    out.mkdir(exist_ok=True)
    gharchive = Path(sys.executable).parent / "gharchive"
    ours_cmd = [str(gharchive), "normalize", str(hour), str(out / "ours.parquet"), "--hour", "2015-01-01T00",
                "--workers", str(args.workers)]  # fmt: skip
    ref_cmd = [
        sys.executable,
        str(shared / "bench" / "reference_duckdb.py"),
        str(hour),
        str(out / "duckdb.parquet"),
    ]
    print(f"input: {hour} ({hour.stat().st_size / MIB:.1f} MiB gzip, {args.events:,} events); {load_line()}",
          flush=True)  # fmt: skip
    series = alternating({"gharchive normalize": ours_cmd, "reference_duckdb.py": ref_cmd}, args.runs)
    if not args.skip_seed:
        seed_cmd = [
            sys.executable,
            str(shared / "bench" / "seed_like.py"),
            str(hour),
            str(out / "seed.parquet"),
        ]
        print("  run 1/1: seed_like.py ...", end=" ", flush=True)
        series["seed_like.py"] = Series([run(seed_cmd)])
        print(f"{series['seed_like.py'].last().wall:.1f} s wall ({load_line()})", flush=True)
    print("  memory runs (polled, not timed) ...", flush=True)
    memory = {"gharchive normalize": polled_memory(ours_cmd), "reference_duckdb.py": polled_memory(ref_cmd)}

    ours, ref = series["gharchive normalize"], series["reference_duckdb.py"]
    seed = series.get("seed_like.py")
    ratios = pair_ratios(ours, ref)
    print()
    print(f"medians of {args.runs} alternating runs (seed: 1 run); {load_line()}")
    print(
        f"{'contender':<24}{'wall s':>8}{'cpu s':>8}{'vs duckdb':>11}{'vs seed':>9}"
        f"{'maxRSS MiB':>12}{'tree RSS':>10}{'tree PSS':>10}"
    )
    for name, m in series.items():
        wall = m.median("wall")
        vs_seed = f"{wall / seed.median('wall'):>9.2f}" if seed else f"{'-':>9}"
        rss, pss = memory.get(name, (0, 0))
        print(
            f"{name:<24}{wall:>8.2f}{m.median('cpu'):>8.2f}{wall / ref.median('wall'):>11.2f}{vs_seed}"
            f"{m.median('max_rss') / MIB:>12.0f}{rss / MIB:>10.0f}{pss / MIB:>10.0f}"
        )
    print()
    median_ratio = statistics.median(ratios)
    ours_pss = memory["gharchive normalize"][1]
    rss_summed = memory["gharchive normalize"][0]
    checks = [
        (f"time ratio to the DuckDB reference <= {TARGET_RATIO}", median_ratio <= TARGET_RATIO,
         describe_ratios(ratios)),
        (f"peak memory (PSS of the tree) <= {TARGET_RSS_MIB} MiB", ours_pss <= TARGET_RSS_MIB * MIB,
         f"{ours_pss / MIB:.0f} MiB (RSS summed: {rss_summed / MIB:.0f} MiB; kernel peak RSS "
         f"median {ours.median('max_rss') / MIB:.0f} MiB)"),
    ]  # fmt: skip
    if seed:
        speedup = seed.median("wall") / ours.median("wall")
        checks.append(
            (f">= {TARGET_SPEEDUP:.0f}x faster than the seed", speedup >= TARGET_SPEEDUP, f"{speedup:.1f}x")
        )
    checks.append(
        ("same events as the DuckDB reference", *same_events(out / "ours.parquet", out / "duckdb.parquet"))
    )
    for label, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value}")
    if args.big_load:
        big_load(shared, args.big_load, ["duckdb", "spark"] if args.big_load_spark else ["duckdb"])


if __name__ == "__main__":
    main()
