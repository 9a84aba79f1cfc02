"""Hostile lines in real hours (issue 13, items 1, 3, 5 and created_at ranges): each is ONE reject.

Every test copies a real GH Archive hour from data/gharchive/ and replaces a few of its lines with a
mutated copy of a real event (a field past INT64, of the wrong JSON type, an impossible created_at),
then normalizes the whole hour, with the native fast path and with the pure-Python mapper: both must
give the same rows and the same rejects, and neither may raise.
"""

from __future__ import annotations

import copy
import gzip
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import NormalizeResult, native, normalize
from gharchive_pipeline.normalize.timestamps import BIGQUERY_RANGE

from ..conftest import DATA

EVENTS_HOUR = "2015-01-01-5.json.gz"  # 5887 Events-era lines: 58 rejects are allowed (1%)
TIMELINE_HOUR = "2012-10-13-0.json.gz"  # 3086 Timeline lines: 30 rejects allowed

Mutation = Callable[[dict[str, Any]], None]
_RAW = "__raw_json__:"  # a string value written out as the JSON text after the prefix


def _set(*path: Any, value: Any) -> Mutation:
    """Set the field at `path` (every key before the last must exist in the event)."""

    def mutate(event: dict[str, Any]) -> None:
        node = event
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def raw_number(text: str) -> str:
    """A number orjson cannot write (past 64 bits), spelled as in the line."""
    return _RAW + text


#: (event type to mutate, mutation, words the reject's reason must hold): Events era
EVENTS_CASES: dict[str, tuple[str, Mutation, str]] = {
    "actor.id 2^63": ("PushEvent", _set("actor", "id", value=2**63), "actor.id 9223372036854775808"),
    "actor.id -2^63-1": (
        "PushEvent",
        _set("actor", "id", value=raw_number("-9223372036854775809")),
        "actor.id is a number",
    ),
    "actor.id 2^64": (
        "PushEvent",
        _set("actor", "id", value=raw_number("18446744073709551616")),
        "actor.id is a number",
    ),
    "actor.id u64 max": ("PushEvent", _set("actor", "id", value=2**64 - 1), "64-bit integer column"),
    "actor.id string": ("PushEvent", _set("actor", "id", value="66577"), "actor.id is a string"),
    "actor.id float": ("PushEvent", _set("actor", "id", value=1.5), "actor.id is a number"),
    "actor.id bool": ("PushEvent", _set("actor", "id", value=True), "actor.id is a boolean"),
    "actor.id object": ("PushEvent", _set("actor", "id", value={"a": 1}), "actor.id is an object"),
    "repo.id 2^63": ("PushEvent", _set("repo", "id", value=2**63), "repo.id 9223372036854775808"),
    "repo.id array": ("PushEvent", _set("repo", "id", value=[1]), "repo.id is an array"),
    "org.id 2^63": ("IssuesEvent", _set("org", "id", value=2**63), "org.id 9223372036854775808"),
    "payload.size 2^63": ("PushEvent", _set("payload", "size", value=2**63), "payload.size"),
    "payload.size string": ("PushEvent", _set("payload", "size", value="3"), "payload.size is a string"),
    "distinct_size 2^63": ("PushEvent", _set("payload", "distinct_size", value=2**63), "distinct_size"),
    "issue.number 2^63": ("IssuesEvent", _set("payload", "issue", "number", value=2**63), "issue.number"),
    "pr number float": ("PullRequestEvent", _set("payload", "number", value=3.0), "payload.number is a"),
    "pr merged string": (
        "PullRequestEvent",
        _set("payload", "pull_request", "merged", value="yes"),
        "merged is a string",
    ),
    "actor.login int": ("PushEvent", _set("actor", "login", value=5), "actor.login is an integer"),
    "repo.name object": ("PushEvent", _set("repo", "name", value={"a": "b"}), "repo.name is an object"),
    "org.login bool": ("IssuesEvent", _set("org", "login", value=False), "org.login is a boolean"),
    "ref int": ("PushEvent", _set("payload", "ref", value=7), "payload.ref is an integer"),
    "action array": ("IssuesEvent", _set("payload", "action", value=["opened"]), "payload.action is an"),
    "ref_type float": ("CreateEvent", _set("payload", "ref_type", value=0.5), "payload.ref_type is a"),
    "public string": ("PushEvent", _set("public", value="true"), "public is a string"),
    "repo string": ("PushEvent", _set("repo", value="a/b"), "repo is a string"),
    "org array": ("IssuesEvent", _set("org", value=[]), "org is an array"),
    "id float": ("PushEvent", _set("id", value=1.5), "id is a number"),
    "created_at year 10000": (
        "PushEvent",
        _set("created_at", value="9999-12-31T23:59:59-12:00"),
        "outside what BigQuery's TIMESTAMP holds",
    ),
    "created_at year 0": (
        "PushEvent",
        _set("created_at", value="0001-01-01T00:00+14:00"),
        "outside what BigQuery's TIMESTAMP holds",
    ),
    "created_at before GitHub": (
        "WatchEvent",
        _set("created_at", value="2006-05-01T00:00:00Z"),
        "older than GitHub",
    ),
    "created_at in the future": (
        "WatchEvent",
        _set("created_at", value="2999-01-01T00:00:00Z"),
        "is in the future (more than a day after the run)",
    ),
    "created_at year 1 (in range, implausible)": (
        "PushEvent",
        _set("created_at", value="0001-01-01T00:00:00Z"),
        "older than GitHub",
    ),
}

#: Timeline era (2012): `actor` a login string, a `repository` object
TIMELINE_CASES: dict[str, tuple[str, Mutation, str]] = {
    "repository.id 2^63": ("PushEvent", _set("repository", "id", value=2**63), "repo.id 9223372036854775808"),
    "repository.id string": ("PushEvent", _set("repository", "id", value="1"), "repo.id is a string"),
    "repository.organization int": (
        "PushEvent",
        _set("repository", "organization", value=3),
        "org.login is an integer",
    ),
    "repository array": ("PushEvent", _set("repository", value=[]), "repository is an array"),
    "actor int": ("PushEvent", _set("actor", value=12), "actor is an integer"),
    "payload.size 2^63": ("PushEvent", _set("payload", "size", value=2**63), "payload.size"),
    "payload.number string": ("IssuesEvent", _set("payload", "number", value="5"), "payload.number is a"),
}


def _lines(name: str) -> list[bytes]:
    return gzip.decompress((DATA / name).read_bytes()).splitlines()


def inject(
    name: str, cases: dict[str, tuple[str, Mutation, str]], folder: Path
) -> tuple[Path, dict[int, tuple[str, str]], list[bytes]]:
    """A copy of the real hour `name` (gzip, same file name) where, for each case, one real event of
    the case's type (a different line each time) is replaced by its mutated copy. Returns the file,
    {line number: (case, expected words)} and the original lines."""
    lines = _lines(name)
    types = [orjson.loads(line)["type"] for line in lines]
    out = list(lines)
    used: set[int] = set()
    expected: dict[int, tuple[str, str]] = {}
    for case, (event_type, mutate, words) in cases.items():
        index = next(
            i
            for i, line in enumerate(lines)
            if i not in used and i > 10 and types[i] == event_type and _fits(line, mutate)
        )
        used.add(index)
        event = orjson.loads(lines[index])
        mutate(event)
        text = orjson.dumps(event)
        if _RAW.encode() in text:
            head, _, rest = text.partition(b'"' + _RAW.encode())
            number, _, tail = rest.partition(b'"')
            text = head + number + tail
        out[index] = text
        expected[index + 1] = (case, words)
    path = folder / name
    path.write_bytes(gzip.compress(b"\n".join(out) + b"\n"))
    return path, expected, lines


def _fits(line: bytes, mutate: Mutation) -> bool:
    """Whether the mutation applies to this event as it is (the fields it walks through exist)."""
    try:
        mutate(copy.deepcopy(orjson.loads(line)))
    except (KeyError, IndexError, TypeError):
        return False
    return True


@pytest.fixture
def python_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The pure-Python mapper in this process (as GHARCHIVE_NATIVE=0 gives in a fresh one)."""
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "AVAILABLE", False)
    yield


def _rejects(result: NormalizeResult) -> dict[int, str]:
    assert result.rejects_path is not None
    return {r["line"]: r["reason"] for r in map(orjson.loads, result.rejects_path.read_bytes().splitlines())}


def _rows(path: Path) -> pa.Table:
    return pq.read_table(path).drop_columns(["ingested_at"])


def _check_hour(
    result: NormalizeResult, expected: dict[int, tuple[str, str]], lines: list[bytes]
) -> dict[int, str]:
    reasons = _rejects(result)
    assert sorted(reasons) == sorted(expected), "exactly the hostile lines are rejects, one each"
    for line_no, (case, words) in expected.items():
        assert words in reasons[line_no], f"{case}: {reasons[line_no]!r}"
    assert result.events == len(lines) - len(expected) == result.lines - result.rejects
    kept = {orjson.loads(line).get("id") for i, line in enumerate(lines) if i + 1 not in expected}
    ids = set(pq.read_table(result.output, columns=["id"]).column("id").to_pylist())
    if None not in kept:  # Events era: the real ids of every other line are all there
        assert ids == kept
    return reasons


@pytest.mark.parametrize(
    ("hour", "cases"),
    [(EVENTS_HOUR, EVENTS_CASES), (TIMELINE_HOUR, TIMELINE_CASES)],
    ids=["events", "timeline"],
)
def test_each_hostile_line_is_one_reject_on_both_paths(
    hour: str, cases: dict[str, tuple[str, Mutation, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, expected, lines = inject(hour, cases, tmp_path)
    fast = normalize(src, tmp_path / "fast" / "events.parquet")
    reasons = _check_hour(fast, expected, lines)
    if hour == EVENTS_HOUR and native.AVAILABLE:
        # every ordinary line but the few with an '@' in a column value (a title's "@user")
        assert fast.events - fast.native_events <= fast.events // 100, "the native path still takes the rest"
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "AVAILABLE", False)
    slow = normalize(src, tmp_path / "slow" / "events.parquet")
    assert slow.native_events == 0
    assert _check_hour(slow, expected, lines) == reasons
    assert _rows(fast.output).equals(_rows(slow.output)), "native and Python rows differ"


def test_the_cli_reports_the_reject_not_a_traceback(tmp_path: Path) -> None:
    """The reproduction of issue 13: `actor.id` 2^63 used to kill the hour with an OverflowError."""
    from click.testing import CliRunner

    from gharchive_pipeline.cli import cli

    src, expected, _ = inject(EVENTS_HOUR, {"actor.id 2^63": EVENTS_CASES["actor.id 2^63"]}, tmp_path)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(cli, ["normalize", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "Traceback" not in result.output and "5886 events" in result.output and "rejects: 1" in result.output
    )
    (line_no,) = expected
    assert f'"line":{line_no},"reason":"actor.id 9223372036854775808 does not fit' in (
        out.with_name(out.name + ".rejects.ndjson").read_text()
    )


def test_more_than_one_percent_hostile_lines_still_fail_the_hour(tmp_path: Path) -> None:
    from gharchive_pipeline.normalize import TooManyRejectsError

    lines = _lines(TIMELINE_HOUR)
    for i in range(0, 40 * 50, 50):  # 40 of 3086 lines: over 1%
        event = orjson.loads(lines[i])
        event["repository"] = {"id": 2**63}
        lines[i] = orjson.dumps(event)
    src = tmp_path / TIMELINE_HOUR
    src.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(TooManyRejectsError, match=r"40 of 3086 lines.*repo.id 9223372036854775808"):
        normalize(src, tmp_path / "out" / "events.parquet")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_native_gives_back_a_created_at_outside_the_window() -> None:
    """The C path parses `...Z` itself: outside the run's window it must leave the line to Python."""
    if not native.AVAILABLE:
        pytest.skip("native fast path not built")
    line = _lines(EVENTS_HOUR)[0]
    created = orjson.loads(line)["created_at"]
    assert created.endswith("Z")
    first = 1420070400 * 10**6  # 2015-01-01T00:00:00Z
    taken = native.map_lines([line], (first, first + 10 * 3600 * 10**6))
    assert taken is not None and taken.rows == 1
    for window in ((first + 6 * 3600 * 10**6, BIGQUERY_RANGE[1]), (BIGQUERY_RANGE[0], first)):
        given_back = native.map_lines([line], window)
        assert given_back is not None and given_back.rows == 0 and len(given_back.fallback) == 1


# ---- paths that coincide, unwritable outputs (item 3) ---------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from gharchive_pipeline.cli import cli

    result = CliRunner().invoke(cli, ["normalize", *args])
    return result.exit_code, result.output


@pytest.fixture
def hour_copy(tmp_path: Path) -> Path:
    src = tmp_path / "in" / "2011-02-15-0.json.gz"  # the smallest real hour
    src.parent.mkdir()
    src.write_bytes((DATA / src.name).read_bytes())
    return src


def _same_pair_cases(src: Path) -> dict[str, list[str]]:
    folder = src.parent
    hard = folder / "hard-link.parquet"
    hard.hardlink_to(src)
    link = folder / "symlink.parquet"
    link.symlink_to(src)
    out = folder / "out.parquet"
    return {
        "X X": [str(src), str(src)],
        "X ./X": [str(src), str(folder / "." / src.name)],
        "DST a hard link of SRC": [str(src), str(hard)],
        "DST a symlink to SRC": [str(src), str(link)],
        "SRC a symlink, DST its target": [str(link), str(src), "--hour", "2011-02-15T00"],
        "--rejects DST": [str(src), str(out), "--rejects", str(out)],
        "--rejects SRC": [str(src), str(out), "--rejects", str(src)],
        "--rejects a hard link of SRC": [str(src), str(out), "--rejects", str(hard)],
    }


def test_coinciding_paths_are_one_line_and_nothing_is_written(hour_copy: Path) -> None:
    original = hour_copy.read_bytes()
    for case, args in _same_pair_cases(hour_copy).items():
        before = sorted(p.name for p in hour_copy.parent.iterdir())
        code, output = _cli(*args)
        assert code == 1, f"{case}: {output}"
        assert output.startswith("Error: ") and output.count("\n") == 1, f"{case}: {output}"
        assert "are the same file; nothing was written" in output and "Traceback" not in output
        assert hour_copy.read_bytes() == original, f"{case}: the source hour was touched"
        assert sorted(p.name for p in hour_copy.parent.iterdir()) == before, f"{case}: something was written"


def test_src_named_as_the_default_rejects_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "out.parquet.rejects.ndjson"
    src.write_bytes(gzip.decompress((DATA / "2011-02-15-0.json.gz").read_bytes()))
    code, output = _cli(str(src), str(tmp_path / "out.parquet"), "--hour", "2011-02-15T00")
    assert code == 1 and "SRC" in output and "the rejects file" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_an_unwritable_dst_is_one_line(hour_copy: Path) -> None:
    code, output = _cli(str(hour_copy), "/proc/x.parquet")
    assert (code, output) == (1, "Error: /proc/x.parquet: cannot write (No such file or directory)\n")
    ro = hour_copy.parent / "read-only"
    ro.mkdir(mode=0o555)
    if os.access(ro, os.W_OK):  # root writes anywhere: a file where a folder must be instead
        ro = hour_copy.parent / "a-file"
        ro.write_bytes(b"")
    code, output = _cli(str(hour_copy), str(ro / "x.parquet"))
    assert code == 1 and output.count("\n") == 1 and f"Error: {ro / 'x.parquet'}: cannot write" in output


# ---- temp files of killed runs, file modes, the log line (item 5) -----------------------------------


def _leave_a_temp_file_as_a_killed_run_does(final: Path) -> Path:
    """A real process creates the temp file for `final` as a run does, then is SIGKILLed."""
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from gharchive_pipeline.normalize.writer import _AtomicFile\n"
        "f = _AtomicFile(Path(sys.argv[1]))\n"
        "f.temp.write_bytes(b'PAR1 half a file')\n"
        "print(f.temp, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(final)], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    temp = Path(done.stdout.strip())
    assert temp.exists() and temp.parent == final.parent
    return temp


def test_a_rerun_removes_the_temp_files_a_killed_run_left(hour_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "events.parquet"
    out.parent.mkdir()
    left = [
        _leave_a_temp_file_as_a_killed_run_does(out),
        _leave_a_temp_file_as_a_killed_run_does(out.with_name(out.name + ".rejects.ndjson")),
    ]
    not_ours = [
        out.parent / ".events.parquet.abc.tmp",  # not the 8-character tag
        out.parent / ".other.parquet.abcdefgh.tmp",  # another output's
        out.parent / "events.parquet.abcdefgh.tmp",  # not hidden
        out.parent / ".events.parquet.abcdefgh.tmp.bak",
    ]
    for path in not_ours:
        path.write_bytes(b"keep me")
    folder = out.parent / ".events.parquet.zzzzzzzz.tmp"  # our name, but a folder: not ours either
    folder.mkdir()
    from gharchive_pipeline.normalize.writer import _AtomicFile

    live = _AtomicFile(out)  # a concurrent run still writing: locked, so never taken for a leftover
    try:
        result = normalize(hour_copy, out)
        assert result.events == 1639
        assert not any(p.exists() for p in left)
        assert all(p.read_bytes() == b"keep me" for p in not_ours)
        assert live.temp.exists()
    finally:
        live.abort()
    assert folder.is_dir()
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [out.name, folder.name, *(p.name for p in not_ours)]
    )


def test_a_source_named_like_a_leftover_is_never_removed(tmp_path: Path) -> None:
    src = tmp_path / ".events.parquet.abcdefgh.tmp"  # a hostile but legal name for the input
    src.write_bytes((DATA / "2011-02-15-0.json.gz").read_bytes())
    result = normalize(src, tmp_path / "events.parquet", hour=Hour.parse("2011-02-15T00"))
    assert result.events == 1639 and src.read_bytes() == (DATA / "2011-02-15-0.json.gz").read_bytes()


def test_outputs_get_the_ordinary_file_mode(tmp_path: Path) -> None:
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(gzip.decompress((DATA / EVENTS_HOUR).read_bytes()) + b"not json\n")
    old = os.umask(0o022)
    try:
        result = normalize(src, tmp_path / "out" / "events.parquet")
    finally:
        os.umask(old)
    assert result.rejects_path is not None
    for path in (result.output, result.rejects_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_the_log_names_the_final_rejects_file_not_a_deleted_temp(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(gzip.decompress((DATA / EVENTS_HOUR).read_bytes()) + b"not json\n")
    final = "gs://curated/rejects/date=2015-01-01/hour=05/rejects.ndjson"
    with caplog.at_level(logging.INFO, logger="gharchive_pipeline.normalize"):
        normalize(
            src,
            tmp_path / "t" / "events.parquet",
            rejects_path=tmp_path / "t" / "r.ndjson",
            rejects_name=final,
        )
    (line,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert (
        line.endswith(f"1 of 5888 lines rejected, see {final}")
        and str(tmp_path) not in line.split(": ", 1)[1]
    )


@pytest.mark.slow
def test_kill_9_during_normalize_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    """A real `gharchive normalize` killed while it writes, then run again: no temp file is left
    and the output is the clean run's."""
    data = gzip.decompress((DATA / EVENTS_HOUR).read_bytes()) + b"not json\n"
    src = tmp_path / EVENTS_HOUR
    src.write_bytes(gzip.compress(data * 2))  # the temp file appears first: killed long before the end
    out = tmp_path / "out" / "events.parquet"
    out.parent.mkdir()
    main = "from gharchive_pipeline.cli import main; main()"
    command = [sys.executable, "-c", main, "normalize", str(src), str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".tmp") for p in out.parent.iterdir()):
            assert process.poll() is None, "it finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert any(p.name.endswith(".tmp") for p in out.parent.iterdir()), "the kill left nothing to clean"
    rerun = normalize(src, out)
    clean = normalize(src, tmp_path / "clean" / "events.parquet")
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, out.name + ".rejects.ndjson"]
    assert (rerun.events, rerun.rejects) == (clean.events, clean.rejects) == (2 * 5887, 2)
    assert _rows(rerun.output).equals(_rows(clean.output))
    assert rerun.rejects_path is not None and clean.rejects_path is not None
    assert rerun.rejects_path.read_bytes() == clean.rejects_path.read_bytes()


def test_the_normalize_stage_records_the_reject_and_logs_where_the_rejects_went(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the Cloud Function's handler (local buckets): the overflowing line is one reject in
    the ledger (no 500, no redelivery), and the log names the curated rejects object, not the
    function's temp file (deleted right after)."""
    from gharchive_pipeline import entrypoints, layout
    from gharchive_pipeline.cloud_events import bucket_name, finalized_event
    from gharchive_pipeline.settings import Settings
    from gharchive_pipeline.storage import open_storage

    src, expected, _ = inject(EVENTS_HOUR, {"actor.id 2^63": EVENTS_CASES["actor.id 2^63"]}, tmp_path)
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    hour = Hour.parse("2015-01-01T05")
    info = raw.put_bytes(layout.raw_object(hour), src.read_bytes())
    settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)
    with caplog.at_level(logging.INFO, logger="gharchive_pipeline.normalize"):
        result = entrypoints.normalize(finalized_event(bucket_name(raw.url), info), settings)
    assert result.outcome == "rejected" and result.details["rejects"] == 1, result.details
    (line,) = [r.getMessage() for r in caplog.records if "rejected, see" in r.getMessage()]
    assert line.endswith(f"see {result.details['rejects_object']}"), line
    rejects = curated.read_bytes(layout.rejects_object(hour)).decode()
    assert f'"line":{next(iter(expected))},"reason":"actor.id 9223372036854775808' in rejects
