"""What `make bench` and `make bench-day` share: the shared bench scripts' folder, running a
contender and measuring it, and the median of alternating runs.

Single runs on a shared machine swing (the same build has read 0.77-0.96x the reference), so each
contender runs `runs` times, ALTERNATING with the reference (ours, reference, ours, reference, ...):
a load spike then hits both sides of a pair, not one contender's every run. Reported: the median
of each contender's runs and the ratio of every (ours, reference) pair, with the median ratio.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
MIB = 1024 * 1024


def shared_dir(needs: str, what: str) -> Path:
    """$GHARCHIVE_SHARED (default ../shared next to the repository), which must hold bench/`needs`."""
    shared = Path(os.environ.get("GHARCHIVE_SHARED", ROOT.parent / "shared"))
    if not (shared / "bench" / needs).is_file():
        sys.exit(
            f"bench: {shared}/bench/{needs} not found; set GHARCHIVE_SHARED to the folder that holds {what}"
        )
    return shared


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system of the process and its reaped children
    max_rss: int  # the kernel's peak RSS of the largest process (wait4)
    tree_rss: int  # peak RSS summed over the process tree, polled (0: not polled)
    stdout: str


def run(cmd: Sequence[str], *, poll_s: float = 0.0) -> Run:
    """Run `cmd` once; exit with its stderr if it fails. `poll_s` > 0: also poll the RSS of its
    process tree (cheap /proc/PID/statm reads) every `poll_s` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = psutil.Popen(list(cmd), stdout=out, stderr=err)
        peak = 0
        reaped = None
        while reaped is None:
            if poll_s > 0:  # wait4 with WNOHANG reaps it when it ends, so its rusage is kept
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    reaped = status, usage
                    break
                total = 0
                try:
                    for p in [proc, *proc.children(recursive=True)]:
                        try:
                            total += p.memory_info().rss
                        except psutil.NoSuchProcess:
                            continue
                except psutil.NoSuchProcess:
                    pass
                peak = max(peak, total)
                time.sleep(poll_s)
            else:
                _, status, usage = os.wait4(proc.pid, 0)
                reaped = status, usage
        status, usage = reaped
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        code = proc.returncode
        if code != 0:
            err.seek(0)
            sys.exit(f"bench: {' '.join(cmd)} failed ({code}):\n{err.read().decode(errors='replace')}")
        out.seek(0)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Run(wall, cpu, usage.ru_maxrss * 1024, peak, out.read().decode(errors="replace"))


@dataclass(frozen=True)
class Series:
    """A contender's runs, in the order they ran."""

    runs: list[Run]

    def median(self, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in self.runs))

    def last(self) -> Run:
        return self.runs[-1]


def alternating(
    contenders: dict[str, Sequence[str]],
    runs: int,
    *,
    before_each: Callable[[str], None] | None = None,
    poll_s: float = 0.0,
) -> dict[str, Series]:
    """Each contender `runs` times, in rounds (A, B, A, B, ...), so pairs share the machine's mood.
    `before_each(name)` runs before every run (e.g. to give it a fresh output folder)."""
    results: dict[str, list[Run]] = {name: [] for name in contenders}
    for i in range(runs):
        for name, cmd in contenders.items():
            if before_each is not None:
                before_each(name)
            print(f"  run {i + 1}/{runs}: {name} ...", end=" ", flush=True)
            done = run(cmd, poll_s=poll_s)
            results[name].append(done)
            print(f"{done.wall:.1f} s wall, {done.cpu:.1f} s CPU ({load_line()})", flush=True)
    return {name: Series(r) for name, r in results.items()}


def pair_ratios(ours: Series, reference: Series) -> list[float]:
    """Wall time of ours / the reference's, run by run (the i-th of each ran back to back)."""
    return [a.wall / b.wall for a, b in zip(ours.runs, reference.runs, strict=True)]


def describe_ratios(ratios: list[float]) -> str:
    return f"median {statistics.median(ratios):.2f} (pairs: {', '.join(f'{r:.2f}' for r in ratios)})"


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs; load average {one:.2f}, {five:.2f}, {fifteen:.2f}"
