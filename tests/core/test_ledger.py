"""The hour ledger on both storages, including concurrent writers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gharchive_pipeline import ledger
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.layout import ledger_object
from gharchive_pipeline.ledger import (
    LedgerEntry,
    LedgerError,
    append_entry,
    latest,
    ledger_hours,
    read_ledger,
)
from gharchive_pipeline.storage import Storage, open_storage
from tests.support.fake_gcs import fake_gcs_fixture, storage_fixture  # noqa: F401 (fixtures)

HOUR = Hour.parse("2016-02-29T23")
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def entry(stage: str = "ingest", outcome: str = "stored", **details: object) -> LedgerEntry:
    return LedgerEntry(stage, outcome, AT, dict(details))


def test_unknown_hour_has_an_empty_ledger(storage: Storage) -> None:
    assert read_ledger(storage, HOUR) == []
    assert list(ledger_hours(storage)) == []


def test_append_and_read_newest_last(storage: Storage) -> None:
    append_entry(storage, HOUR, entry("ingest", "not_yet_published"))
    append_entry(storage, HOUR, entry("ingest", "stored", bytes=12, generation=3))
    append_entry(storage, HOUR, entry("normalize", "normalized", events=7))
    got = read_ledger(storage, HOUR)
    assert [(e.stage, e.outcome) for e in got] == [
        ("ingest", "not_yet_published"),
        ("ingest", "stored"),
        ("normalize", "normalized"),
    ]
    assert got[1] == entry("ingest", "stored", bytes=12, generation=3)
    assert latest(got, "ingest") == got[1]
    assert latest(got, "load") is None
    doc = json.loads(storage.read_bytes(ledger_object(HOUR)))
    assert doc["hour"] == "2016-02-29T23" and len(doc["entries"]) == 3


def test_concurrent_writers_lose_nothing(storage: Storage) -> None:
    def writer(w: int) -> None:
        for i in range(4):
            append_entry(storage, HOUR, entry(details=f"{w}-{i}"), sleep=lambda _s: None)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = sorted(e.details["details"] for e in read_ledger(storage, HOUR))
    assert seen == sorted(f"{w}-{i}" for w in range(5) for i in range(4))


def test_ledger_hours_lists_every_hour_in_order(storage: Storage) -> None:
    hours = [Hour.parse(k) for k in ("2015-01-01T01", "2011-02-12T00", "2016-02-29T23")]
    for h in hours:
        append_entry(storage, h, entry())
    storage.put_bytes("ledger/README", b"not a ledger")
    assert list(ledger_hours(storage)) == sorted(hours)


def test_document_stays_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger, "MAX_ENTRIES", 3)
    raw = open_storage(str(tmp_path))
    for i in range(5):
        append_entry(raw, HOUR, entry(n=i))
    assert [e.details["n"] for e in read_ledger(raw, HOUR)] == [2, 3, 4]
    assert json.loads(raw.read_bytes(ledger_object(HOUR)))["dropped"] == 2


def test_bad_stage_and_unreadable_ledger_are_clear_errors(tmp_path: Path) -> None:
    raw = open_storage(str(tmp_path))
    with pytest.raises(ValueError, match="unknown ledger stage"):
        append_entry(raw, HOUR, entry(stage="download"))
    raw.put_bytes(ledger_object(HOUR), b"{oops")
    with pytest.raises(LedgerError, match=r"2016-02-29T23.*unreadable"):
        read_ledger(raw, HOUR)


def test_local_ledger_is_safe_across_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from datetime import UTC, datetime\n"
        "from gharchive_pipeline.hours import Hour\n"
        "from gharchive_pipeline.ledger import LedgerEntry, append_entry\n"
        "from gharchive_pipeline.storage import open_storage\n"
        "raw = open_storage(sys.argv[1])\n"
        "for i in range(5):\n"
        "    e = LedgerEntry('ingest', 'stored', datetime.now(UTC), {'w': sys.argv[2], 'i': i})\n"
        "    append_entry(raw, Hour.parse('2016-02-29T23'), e)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "raw"), str(w)]) for w in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    got = read_ledger(open_storage(str(tmp_path / "raw")), HOUR)
    assert sorted((e.details["w"], e.details["i"]) for e in got) == [
        (str(w), i) for w in range(3) for i in range(5)
    ]
