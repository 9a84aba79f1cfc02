"""Two `gharchive run` of the same hours on one home at the same time end exactly like one clean run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, finish, leftovers, outcome, run_cmd, start


def test_two_concurrent_runs_on_one_home(clean_run: CleanRun, tmp_path: Path) -> None:
    home = tmp_path / "home"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(run_cmd(home, DATA, FIRST, LAST), log) for log in logs]
    codes = [finish(p) for p in procs]
    assert codes == [0, 0], "\n".join(log.read_text()[-2000:] for log in logs)
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []
