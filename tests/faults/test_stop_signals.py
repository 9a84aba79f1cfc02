"""SIGINT or SIGTERM at any moment of a real `gharchive run` with worker processes: one line on
stderr ("stopped; ..."), exit status 128 + the signal, no process of the run left, no traceback;
a rerun then equals a clean run.

The moments: at once (the interpreter is starting), as soon as the program's handler is in place
(it is still importing), while the first hour downloads, while it normalizes in a worker, and while
the day loads. A signal the interpreter takes before any of the program runs kills it silently
(the default action: accepted); Python's own window after that (importing `site`, ~30 ms, where a
SIGINT is a "Fatal Python error") is outside the program and not tested.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from gharchive_pipeline import layout
from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, kill_tree, leftovers, outcome, run, run_cmd

#: what every stopped command says (the user-facing words, spelled here on purpose)
STOPPED_MESSAGE = "stopped; run the same command again to resume"


def _caught(pid: int, signum: int) -> bool:
    """The process has a handler for `signum` (/proc/PID/status SigCgt)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(mask & (1 << (signum - 1)))


def group_alive(pgid: int) -> list[str]:
    """The processes of a process group that still run (zombies awaiting their reaper do not)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(f"{entry.name} {cmdline}")
    return alive


Moment = Callable[[Path, int], bool]

#: when the signal goes, as a condition on (home, pid); the first one true starts it
MOMENTS: dict[str, Moment] = {
    "at_once": lambda _home, _pid: True,
    "handler_in_place": lambda _home, pid: _caught(pid, signal.SIGTERM),
    "downloading": lambda home, _pid: (home / "raw" / ".gharchive-storage").exists(),
    "normalizing": lambda home, _pid: (home / "raw" / layout.raw_object(FIRST)).exists(),
    "loading": lambda home, _pid: (home / "curated" / layout.curated_object(FIRST + 1)).exists(),
}

CASES = [
    ("at_once", signal.SIGTERM),
    ("handler_in_place", signal.SIGINT),
    ("handler_in_place", signal.SIGTERM),
    ("downloading", signal.SIGINT),
    ("normalizing", signal.SIGINT),
    ("normalizing", signal.SIGTERM),
    ("loading", signal.SIGINT),
    ("loading", signal.SIGTERM),
]


def _sigint_not_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_as_from_a_terminal(cmd: list[str], stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """The run in its own process group with SIGINT at its default, as a shell starts a foreground
    command. An ignored SIGINT is inherited, and a run keeps it ignored (nohup'ed: stopping.install),
    so pytest started by a script in the background (bash ignores SIGINT for `cmd &` without job
    control) would otherwise see every Ctrl-C case run to the end."""
    return subprocess.Popen(
        cmd, stdout=stdout, stderr=stderr, start_new_session=True, preexec_fn=_sigint_not_ignored
    )


@pytest.mark.parametrize(("moment", "signum"), CASES, ids=[f"{m}-{s.name}" for m, s in CASES])
def test_a_stop_signal_at_any_moment_is_one_line_and_leaves_no_process(
    moment: str, signum: signal.Signals, clean_run: CleanRun, tmp_path: Path
) -> None:
    home, out, err = tmp_path / "home", tmp_path / "stdout", tmp_path / "stderr"
    cmd = [*run_cmd(home, DATA, FIRST, LAST), "--workers", "2"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = start_as_from_a_terminal(cmd, stdout, stderr)
    try:
        condition = MOMENTS[moment]
        deadline = time.monotonic() + 3 * clean_run.seconds + 30
        while not condition(home, proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, f"the run ended before {moment}: {err.read_text()[-2000:]}"
        os.kill(proc.pid, signum)  # the main process (a terminal's Ctrl-C reaches the group: below)
        rc = proc.wait(timeout=60)  # no hang
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    deadline = time.monotonic() + 15
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_alive(proc.pid) == [], "processes of the run outlived it"
    stderr_text, stdout_text = err.read_text(), out.read_text()
    if moment == "at_once" and rc == -signum:
        assert stderr_text == ""  # killed by the signal before the interpreter ran any code
    else:
        assert (rc, stderr_text.strip()) == (128 + signum, STOPPED_MESSAGE), stdout_text[-2000:]
    assert "Traceback" not in stdout_text

    if not (home / "raw").exists():
        return  # stopped before anything was written
    assert run(run_cmd(home, DATA, FIRST, LAST), tmp_path / "rerun.log") == 0
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []


def test_ctrl_c_to_the_whole_process_group_while_workers_start(clean_run: CleanRun, tmp_path: Path) -> None:
    """A terminal sends Ctrl-C to every process of the foreground group, workers included, some of
    them still starting their interpreter: the workers never see it, the parent stops them. An
    impatient user presses it three times: the later ones do not cut the cleanup short."""
    home, out, err = tmp_path / "home", tmp_path / "stdout", tmp_path / "stderr"
    cmd = [*run_cmd(home, DATA, FIRST, LAST), "--workers", "2"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = start_as_from_a_terminal(cmd, stdout, stderr)
    try:
        deadline = time.monotonic() + 3 * clean_run.seconds + 30
        while len(group_alive(proc.pid)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)  # the parent, the resource tracker and a first worker
        assert proc.poll() is None, err.read_text()[-2000:]
        for _ in range(3):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.03)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    deadline = time.monotonic() + 15
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_alive(proc.pid) == []
    assert (rc, err.read_text().strip()) == (130, STOPPED_MESSAGE), out.read_text()[-2000:]
    assert "Traceback" not in out.read_text()
