"""`gharchive` turns a user's error into one line on stderr and exit status 1, never a traceback
(issue 13, item 8), and never shows a source URL's credentials (item 10). Driven through `main`,
the console script itself, on real hour files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gharchive_pipeline.cli import main
from gharchive_pipeline.cli.errors import TRACEBACK_ENV, user_error
from gharchive_pipeline.load.local_warehouse import EVENTS, day_dir
from gharchive_pipeline.storage.base import StorageError
from tests.conftest import DATA
from tests.support.gharchive_server import Fault, GHArchiveServer
from tests.support.warehouse import HOUR1, cached_rows, write_rows

UNWRITABLE = "/proc/gharchive-test"  # even root cannot create anything under /proc


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def assert_one_line_error(code: int, err: str, *says: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 1 and len(lines) == 1, err
    assert "Traceback" not in err
    for text in says:
        assert text in lines[0], lines[0]


def test_run_with_an_unwritable_home(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "2011-02-15T00", "--source", str(DATA), "--home", UNWRITABLE)
    assert_one_line_error(code, err, UNWRITABLE)


def test_ingest_and_backfill_with_an_unwritable_home(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingest", "2011-02-15T00", "--source", str(DATA), "--home", UNWRITABLE)
    assert_one_line_error(code, err, UNWRITABLE)
    code, _, err = run(
        capsys, "backfill", "2011-02-15T00", "2011-02-15T01", "--source", str(DATA), "--home", UNWRITABLE
    )
    assert_one_line_error(code, err, UNWRITABLE)


def test_report_into_an_unwritable_place(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    rows = cached_rows("2015-01-01-1.json.gz", HOUR1)
    write_rows(rows, day_dir(home / "warehouse", EVENTS, HOUR1.start.date()) / "part-0.parquet")
    code, _, err = run(capsys, "report", "--home", str(home), "-o", f"{UNWRITABLE}/report.html")
    assert_one_line_error(code, err, UNWRITABLE)


def test_backfill_to_a_topic_without_google_credentials(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "PUBSUB_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login either
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:1")  # and no metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:1")
    code, _, err = run(capsys, "backfill", "2015-01-01T00", "2015-01-01T01", "--topic", "projects/p/topics/t")
    assert_one_line_error(code, err, "no Google Cloud credentials", "gcloud auth application-default login")


def test_a_bug_keeps_its_traceback() -> None:
    assert user_error(ZeroDivisionError("bug")) is None
    assert user_error(ConnectionRefusedError(111, "refused")) is None  # no path: not the user's
    assert user_error(PermissionError(13, "Permission denied", "/x")) == "Permission denied: /x"
    assert user_error(StorageError("GET http://u:pw@h/x failed")) == "GET http://***@h/x failed"


def test_tracebacks_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(StorageError):
        main(["run", "2011-02-15T00", "--source", str(DATA), "--home", UNWRITABLE])
    assert user_error(StorageError("x")) == "x"  # the same error, shown as one line without it


def test_source_credentials_never_reach_the_console_or_the_home(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with GHArchiveServer(DATA) as server:
        host = server.url.removeprefix("http://")
        source = f"http://carol:pa55-w0rd@{host}/?token=tok-4242"
        code, out, err = run(capsys, "ingest", "2015-01-01T01", "--source", source, "--home", str(home))
        assert code == 0 and "stored" in out
        server.script("2015-01-01-3.json.gz", Fault.status(503))
        code, out2, err2 = run(
            capsys, "ingest", "2015-01-01T03", "--source", source, "--home", str(home), "--retries", "1"
        )
        assert code == 1 and "HTTP 503" in out2
        assert server.credentials[0][0].startswith("Basic ")
    stored = [p.read_text(errors="replace") for p in home.rglob("*") if p.is_file() and p.suffix == ".json"]
    for text in [out, err, out2, err2, *stored]:
        assert "pa55-w0rd" not in text and "tok-4242" not in text and "carol" not in text
    assert any(json.loads(line).get("source", "").startswith("http://***@") for line in err.splitlines())
    assert os.environ.get(TRACEBACK_ENV) is None


@pytest.mark.parametrize("limit", ["-1", "0"])
def test_stats_with_a_limit_below_one(capsys: pytest.CaptureFixture[str], tmp_path: Path, limit: str) -> None:
    """A usage error (exit status 2, click's one line naming the option), not a query's traceback."""
    home = tmp_path / "home"
    rows = cached_rows("2015-01-01-1.json.gz", HOUR1)
    write_rows(rows, day_dir(home / "warehouse", EVENTS, HOUR1.start.date()) / "part-0.parquet")
    code, _, err = run(capsys, "stats", "--home", str(home), "--by", "repo", "--limit", limit)
    assert code == 2 and "Traceback" not in err, err
    assert "Invalid value for '--limit'" in err


# ---- the error tree: every error of ours is one line -------------------------------------------------
def _tree_errors() -> list[BaseException]:
    from gharchive_pipeline import errors
    from gharchive_pipeline.cloud_events import EventError
    from gharchive_pipeline.context import MissingSetting
    from gharchive_pipeline.hours import HourError
    from gharchive_pipeline.load.dataproc import DataprocConfigError, DataprocRetryExhausted
    from gharchive_pipeline.load.day_lock import DayLocked
    from gharchive_pipeline.load.spark_days import LoadError
    from gharchive_pipeline.load.spark_frames import SchemaMismatch
    from gharchive_pipeline.normalize.errors import CorruptInputError, SamePathError
    from gharchive_pipeline.publish import PublishError

    return [
        DayLocked("day 2015-01-01 is held by batch b until 10:00"),
        LoadError("day 2015-01-01: rows of another source_hour"),
        SchemaMismatch("curated files lack columns ['payload']"),
        CorruptInputError("x.json.gz: not gzip"),
        SamePathError("source and output are the same file"),
        PublishError("topic projects/p/topics/t: 403"),
        DataprocConfigError("GHARCHIVE_REGION not set"),
        DataprocRetryExhausted("every attempt failed"),
        EventError("not a finalize event"),
        HourError("bad hour"),
        MissingSetting("GHARCHIVE_TOPIC: no publisher outside the local bus"),
        errors.TransientError(),
    ]


@pytest.mark.parametrize("exc", _tree_errors(), ids=lambda e: type(e).__name__)
def test_every_error_of_the_tree_is_one_line(
    exc: BaseException, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `main` with the command's work replaced by one that raises `exc` (a stand-in: a
    held lock or an exhausted Dataproc retry cannot be made to happen in a unit test)."""
    from gharchive_pipeline.cli import stats_cmd

    def failing(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(stats_cmd, "_warehouse", failing)
    code, _, err = run(capsys, "stats", "--home", "/nonexistent")
    assert_one_line_error(code, err, str(exc) or type(exc).__name__)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released): a connection is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("http://nonexistent.invalid/", "the name nonexistent.invalid does not resolve"),
        ("http://127.0.0.1:{port}/", "Connection refused"),
        ("https://user:secret@127.0.0.1:{port}/", "Connection refused"),
    ],
)
@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_source_that_cannot_be_reached_stops_at_once(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
    says: str,
    command: str,
) -> None:
    """One line naming the source (without its password) and the way out; nothing was tried."""
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)  # through a proxy, the proxy judges (not checked)
    home = tmp_path / "home"
    url = source.format(port=_closed_port())
    code, _, err = run(capsys, command, "2015-01-01T00", "--source", url, "--home", str(home))
    assert_one_line_error(code, err, "cannot reach http", says, "use --source DIR for local hour files")
    assert "secret" not in err
    assert not home.exists()  # no hour was attempted, no ledger says `transient`


@pytest.mark.parametrize("source", ["ftp://x/", "s3://bucket/hours", "file:///no/such/dir"])
@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_source_we_cannot_fetch_from_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, command: str
) -> None:
    home = tmp_path / "home"
    code, _, err = run(capsys, command, "2015-01-01T00", "--source", source, "--home", str(home))
    assert code == 2 and "Invalid value for --source" in err and "Traceback" not in err, err
    assert not home.exists()  # no hour recorded `missing`


def test_run_help_says_how_to_run_offline_on_the_sample_hours() -> None:
    from click.testing import CliRunner

    from gharchive_pipeline.cli import cli

    out = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    assert "gharchive run 2015-01-01T00 2015-01-01T05 --source data/gharchive" in out


def test_a_command_run_in_process_leaves_the_callers_signal_handlers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    run(capsys, "schema")
    assert {s: signal.getsignal(s) for s in before} == before
