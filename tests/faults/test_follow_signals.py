"""`gharchive run --follow` stopped with SIGTERM: it finishes the current hour, says it stopped
(exit status 143, as any stopped command), and a second run completes the rest, ending equal to a
clean run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from gharchive_pipeline import layout
from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, finish, leftovers, outcome, run, run_cmd, start

#: what every stopped command says (the user-facing words, spelled here on purpose)
STOPPED_MESSAGE = "stopped; run the same command again to resume"


def test_sigterm_stops_follow_cleanly_and_a_rerun_completes(clean_run: CleanRun, tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "follow.log"
    cmd = [*run_cmd(home, DATA, FIRST, LAST), "--follow"]
    proc = start(cmd, log)
    deadline = time.monotonic() + 3 * clean_run.seconds + 30
    while not (home / "raw" / layout.raw_object(FIRST)).exists() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGTERM)  # the main process, as systemd's KillMode=mixed does
    assert finish(proc, timeout=3 * clean_run.seconds + 60) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert log.read_text().rstrip().endswith(STOPPED_MESSAGE)

    assert run(cmd, log) == 0, log.read_text()[-3000:]
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []
