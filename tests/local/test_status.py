"""Per-hour status from ledgers and buckets: units on local storage, `gharchive status` on real hours
(a home, a raw directory, fake-gcs-server buckets), and bad state that must block nothing."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from gharchive_pipeline import layout
from gharchive_pipeline.cli import cli
from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import LedgerEntry, append_entry, read_history
from gharchive_pipeline.local.status import collect_status, hour_status, known_hours, render_table
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.storage import Storage, open_storage
from tests.conftest import DATA
from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket

HOUR = Hour.parse("2015-01-01T03")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def buckets(tmp_path: Path) -> tuple[Storage, Storage]:
    return open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))


def entry(raw: Storage, hour: Hour, stage: str, outcome: str, **details: object) -> None:
    append_entry(raw, hour, LedgerEntry(stage, outcome, NOW, dict(details)))


def test_complete_hour(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    r = raw.put_bytes(layout.raw_object(HOUR), b"gz")
    entry(raw, HOUR, "ingest", "stored", seconds=1.5)
    c = curated.put_bytes(
        layout.curated_object(HOUR),
        b"pq",
        metadata={"raw_generation": str(r.generation), "events": "5971", "rejects": "2"},
    )
    entry(raw, HOUR, "normalize", "rejected", seconds=0.5)
    entry(raw, HOUR, "load", "loaded", curated_generation=c.generation, seconds=4.0)
    row = hour_status(raw, curated, HOUR)
    assert (row.raw, row.events, row.rejects, row.normalized, row.loaded) == (
        "stored",
        5971,
        2,
        "rejected",
        "loaded",
    )
    assert (row.ingest_seconds, row.normalize_seconds, row.load_seconds) == (1.5, 0.5, 4.0)
    assert row.complete and row.note == ""


def test_stale_and_pending_states(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    r = raw.put_bytes(layout.raw_object(HOUR), b"gz")
    assert hour_status(raw, curated, HOUR).normalized == "pending"
    c = curated.put_bytes(layout.curated_object(HOUR), b"pq", metadata={"raw_generation": str(r.generation)})
    assert hour_status(raw, curated, HOUR).loaded == "pending"
    entry(raw, HOUR, "load", "loaded", curated_generation=c.generation)
    raw.put_bytes(layout.raw_object(HOUR), b"gz, newer")  # overwritten: curated is from the old one
    assert hour_status(raw, curated, HOUR).normalized == "stale"
    curated.put_bytes(layout.curated_object(HOUR), b"pq2", metadata={"raw_generation": "1"})
    assert hour_status(raw, curated, HOUR).loaded == "stale"  # loaded an older curated generation


def test_failures_show_with_their_reason(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    entry(raw, HOUR, "ingest", "corrupt", detail="gzip stream ends early")
    entry(raw, HOUR + 1, "ingest", "missing", detail="404")
    raw.put_bytes(layout.raw_object(HOUR + 2), b"gz")
    entry(raw, HOUR + 2, "normalize", "failed", error="CorruptInputError: truncated")
    rows = collect_status(raw, curated)
    assert [r.hour for r in rows] == [HOUR, HOUR + 1, HOUR + 2]
    assert [r.raw for r in rows] == ["corrupt", "missing", "stored"]
    assert rows[0].note == "ingest corrupt: gzip stream ends early"
    assert rows[2].normalized == "failed" and "truncated" in rows[2].note
    assert not any(r.complete for r in rows)

    console = Console(record=True, width=200)
    console.print(render_table(rows))
    text = console.export_text()
    assert "2015-01-01T04" in text and "missing" in text and "truncated" in text


def test_known_hours_come_from_ledgers_and_both_buckets(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    entry(raw, HOUR, "ingest", "missing")
    raw.put_bytes(layout.raw_object(HOUR + 5), b"gz")
    curated.put_bytes(layout.curated_object(HOUR + 9), b"pq")
    raw.put_bytes("notes/readme.txt", b"x")
    assert known_hours(raw, curated) == [HOUR, HOUR + 5, HOUR + 9]


# ---- bad state on a real home: recorded, visible, and a way forward without hand editing ------------
T0, T1 = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T01")


@pytest.fixture(scope="module")
def ran_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real hours run through the local chain once (each test works on its own copy)."""
    home = tmp_path_factory.mktemp("ran") / "home"
    gharchive("run", T0.key, T1.key, "--source", str(DATA), "--home", str(home))
    return home


@pytest.fixture
def home(ran_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(ran_home, copy)
    return copy


def gharchive(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def rows(*args: str) -> dict[str, dict[str, Any]]:
    out = gharchive("status", *args, "--json").stdout
    return {row["hour"]: row for row in map(json.loads, out.splitlines())}


def test_a_corrupt_ledger_blocks_nothing_and_is_replaced(home: Path) -> None:
    raw = open_storage(str(home / "raw"))
    bad = b"\x00\x00garbage after a full disk"
    raw.put_bytes(layout.ledger_object(T0), bad)

    before = rows("--home", str(home))  # status still runs, and says what is wrong
    assert "unreadable" in before[T0.key]["note"] and before[T1.key]["loaded"] == "loaded"
    gharchive("load", "2015-01-01", "--home", str(home))  # the sweep no longer fails on it
    gharchive("run", T0.key, T1.key, "--source", str(DATA), "--home", str(home))

    after = rows("--home", str(home))
    assert [after[h.key]["loaded"] for h in (T0, T1)] == ["loaded", "loaded"]
    [kept] = [i.name for i in raw.list("quarantine/ledger/")]
    assert raw.read_bytes(kept) == bad and kept in after[T0.key]["note"]


def test_a_corrupt_ledger_before_the_run_does_not_fail_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    raw = open_storage(str(home / "raw"))
    raw.put_bytes(layout.ledger_object(T1), b"{oops")
    gharchive("run", T0.key, T1.key, "--source", str(DATA), "--home", str(home))
    got = rows("--home", str(home))
    assert [got[h.key]["loaded"] for h in (T0, T1)] == ["loaded", "loaded"]
    assert [got[h.key]["events"] for h in (T0, T1)] == [7702, 7427]


def test_a_stray_ledger_name_is_shown_not_fatal(home: Path) -> None:
    raw, curated = open_storage(str(home / "raw")), open_storage(str(home / "curated"))
    strays = ["ledger/2015/02/30/2015-02-30T00.json", "hours/2015/02/30/2015-02-30-0.json.gz"]
    for name in strays:
        raw.put_bytes(name, b"{}")
    curated.put_bytes("events/date=2015-02-30/hour=00/events.parquet", b"pq")
    result = gharchive("status", "--home", str(home))
    assert "2015-01-01T00" in result.stdout and "2015-01-01T01" in result.stdout
    assert all(f"{raw.url}/{name}" in result.stderr for name in strays)
    assert f"{curated.url}/events/date=2015-02-30/hour=00/events.parquet" in result.stderr
    assert "no real hour" in result.stderr


def test_a_curated_file_deleted_by_hand_is_no_longer_loaded(home: Path) -> None:
    curated = open_storage(str(home / "curated"))
    curated.delete(layout.curated_object(T0))
    gharchive("run", T1.key, "--source", str(DATA), "--home", str(home))  # rebuilds the day without T0

    got = rows("--home", str(home))[T0.key]
    assert (got["normalized"], got["loaded"], got["events"]) == ("deleted", "stale", None)
    assert "normalize the hour again" in got["note"]
    gharchive("run", T0.key, "--source", str(DATA), "--home", str(home))  # the way forward
    again = rows("--home", str(home))[T0.key]
    assert (again["normalized"], again["loaded"], again["events"]) == ("normalized", "loaded", 7702)


# ---- status of deployed buckets (--raw URL [--curated URL]) ------------------------------------------
def test_status_from_a_raw_directory(home: Path) -> None:
    from_home = rows("--home", str(home))
    from_raw = rows("--raw", str(home / "raw"))
    both = rows("--raw", str(home / "raw"), "--curated", str(home / "curated"))
    assert from_raw == from_home == both  # the ledgers say what the objects hold
    assert from_raw[T0.key]["batch"].startswith("local-") and from_raw[T0.key]["events"] == 7702

    open_storage(str(home / "curated")).delete(layout.curated_object(T0))
    assert rows("--raw", str(home / "raw"))[T0.key]["loaded"] == "loaded"  # the ledger cannot know
    both = rows("--raw", str(home / "raw"), "--curated", str(home / "curated"))
    assert (both[T0.key]["normalized"], both[T0.key]["loaded"]) == ("deleted", "stale")


def test_status_usage_errors(home: Path, tmp_path: Path) -> None:
    result = gharchive("status", "--curated", str(home / "curated"), code=2)
    assert "--curated needs --raw" in result.output
    result = gharchive("status", "--raw", str(tmp_path / "nowhere"), code=2)
    assert "no directory" in result.output and not (tmp_path / "nowhere").exists()


def test_printed_data_is_escaped(home: Path, tmp_path: Path) -> None:
    """Markup in a ledger (a batch id, an error) or in a bucket's name is printed as text."""
    raw_dir = tmp_path / "r[bold]x[/]"
    shutil.copytree(home / "raw", raw_dir)
    raw = open_storage(str(raw_dir))
    link = "[link=https://evil.example/]x[/link]"
    version = read_history(raw, T1).normalized_version()
    assert version is not None
    entry(raw, T1, "load", "loaded", curated_generation=version.generation, batch_id=link)
    entry(raw, T1, "normalize", "failed", error=link)
    result = gharchive("status", "--raw", str(raw_dir))
    assert "r[bold]x[/]" in result.stdout and f"│ {link} │" in result.stdout
    assert result.stdout.count("[link=") == 2  # the note too (folded over lines in its column)


@pytest.mark.slow
def test_status_from_fake_gcs_buckets(tmp_path: Path) -> None:
    """Real hours normalized into fake-gcs-server buckets by the normalize stage, read back by
    `status --raw gs://…` with real google-cloud-storage calls. The loads are recorded as the Dataproc
    trigger and the Spark job record them (submitted, then loaded): no batch runs here."""
    with fake_gcs_server():
        raw, curated = new_gcs_bucket(prefix="raw"), new_gcs_bucket(prefix="curated")
        settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)
        for hour in (T0, T1):
            info = raw.put_bytes(layout.raw_object(hour), (DATA / hour.file_name).read_bytes())
            event = StorageObjectEvent(bucket_name(raw.url), info.name, info.generation, info.size)
            ctx = cloud_context(settings, raw=raw, curated=curated)
            assert handle_raw_finalized(event, ctx).outcome == "normalized"
        gen = {h: curated.stat(layout.curated_object(h)).generation for h in (T0, T1)}  # type: ignore[union-attr]
        for hour in (T0, T1):
            entry(raw, hour, "load", "submitted", curated_generation=gen[hour], batch_id="day-20150101")
        entry(raw, T0, "load", "loaded", curated_generation=gen[T0], batch_id="day-20150101", seconds=3.0)

        got = rows(T0.key, "2015-01-01T02", "--raw", raw.url)
        assert [(r["raw"], r["events"], r["normalized"], r["loaded"], r["batch"]) for r in got.values()] == [
            ("stored", 7702, "normalized", "loaded", "day-20150101"),
            ("stored", 7427, "normalized", "submitted", "day-20150101"),
            ("-", None, "-", "-", ""),
        ]
        curated.delete(layout.curated_object(T1))
        both = rows(T0.key, T1.key, "--raw", raw.url, "--curated", curated.url)
        assert [both[h.key]["normalized"] for h in (T0, T1)] == ["normalized", "deleted"]
