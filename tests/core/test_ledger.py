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
    CuratedVersion,
    HourHistory,
    LedgerEntry,
    LedgerError,
    append_entry,
    hour_of_ledger_object,
    hour_state,
    latest,
    ledger_hours,
    list_ledgers,
    read_history,
    read_ledger,
)
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
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


# ---- a bad ledger never blocks its hour ---------------------------------------------------------------
def test_unreadable_ledger_is_quarantined_by_the_next_append(storage: Storage) -> None:
    bad = b'{"hour": "2016-02-29T23", "entries": [{"stage": "ingest", "outc'  # cut short by hand
    storage.put_bytes(ledger_object(HOUR), bad)
    history = read_history(storage, HOUR)  # a reader sees an empty history and why
    assert history.entries == () and "unreadable" in history.problem

    append_entry(storage, HOUR, entry("ingest", "already_present"))  # the next stage's record heals it
    [kept] = [i.name for i in storage.list("quarantine/ledger/")]
    assert kept.startswith("quarantine/ledger/2016/02/29/2016-02-29T23.") and kept.endswith(".json")
    assert storage.read_bytes(kept) == bad
    assert [(e.stage, e.outcome) for e in read_ledger(storage, HOUR)] == [("ingest", "already_present")]
    healed = read_history(storage, HOUR)
    assert healed.problem == "" and healed.quarantined == (kept,)
    append_entry(storage, HOUR, entry("normalize", "normalized"))  # the record of it stays
    assert read_history(storage, HOUR).quarantined == (kept,)


def test_unreadable_entries_are_skipped_and_named(tmp_path: Path) -> None:
    raw = open_storage(str(tmp_path))
    good = entry("ingest", "stored").to_json()
    doc = {"hour": HOUR.key, "entries": [good, {"stage": "ingest", "outcome": "teleported"}, 7]}
    raw.put_bytes(ledger_object(HOUR), json.dumps(doc).encode())
    history = read_history(raw, HOUR)
    assert [e.outcome for e in history.entries] == ["stored"]
    assert history.problem == "2 unreadable ledger entries skipped"


def test_stray_ledger_names_are_reported_never_fatal(storage: Storage) -> None:
    append_entry(storage, HOUR, entry())
    strays = [
        "ledger/2015/02/30/2015-02-30T00.json",  # no such day
        "ledger/2015/01/02/2015-01-01T00.json",  # the folder disagrees with the name
        "ledger/2015/01/01/2015-01-01T24.json",
    ]
    for name in strays:
        storage.put_bytes(name, b"{}")
    listing = list_ledgers(storage)
    assert list(listing.ledgers) == [HOUR] and sorted(listing.strays) == sorted(strays)
    assert list(ledger_hours(storage)) == [HOUR]
    assert hour_of_ledger_object("ledger/2015/02/30/2015-02-30T00.json") is None


# ---- the one reading of an hour's history --------------------------------------------------------------
def test_loaded_and_load_asked_are_different_questions() -> None:
    history = HourHistory.of(
        [
            entry("load", "deferred", curated_generation=5),
            entry("load", "submitted", curated_generation=5, batch_id="day-a"),
            entry("load", "failed", curated_generation=5, batch_id="day-a"),
            entry("load", "loaded", curated_generation=7, batch_id="day-b", day="2016-02-29"),
        ]
    )
    assert history.load_seen(5) and history.load_asked(5) and history.loaded(5) is None
    assert history.asked_batches(5) == ["day-a"] and history.batch(5) == "day-a"
    loaded = history.loaded(7)
    assert loaded is not None and loaded.batch_id == "day-b" and loaded.curated_generation == 7
    assert history.loaded(7, day="2016-03-01") is None
    assert history.loaded_generations() == {7: "day-b"}
    assert not history.load_seen(9) and history.batch(None) == "day-b"


def test_refused_hours_settle_their_day() -> None:
    assert HourHistory.of([entry("ingest", "missing")]).refused
    assert HourHistory.of([entry("ingest", "stored"), entry("normalize", "failed")]).refused
    assert not HourHistory.of([entry("ingest", "missing"), entry("ingest", "stored")]).refused
    assert not HourHistory().refused


def test_state_from_the_ledger_alone() -> None:
    """What `gharchive status --raw` shows: the ledger's newest normalized version stands in for the
    curated object (its counts, its generation for the load)."""
    history = HourHistory.of(
        [
            entry("ingest", "stored", raw_generation=3, seconds=0.5),
            entry("normalize", "rejected", raw_generation=3, curated_generation=8, events=10, rejects=2),
            entry("load", "loaded", curated_generation=8, batch_id="day-b"),
        ]
    )
    raw_object = ObjectInfo("hours/x", 1, 3)
    state = hour_state(HOUR, history, raw_object, None, curated_known=False)
    assert (state.raw, state.normalized, state.loaded, state.batch) == (
        "stored",
        "rejected",
        "loaded",
        "day-b",
    )
    assert state.curated == CuratedVersion(8, 10, 2, 3) and state.complete
    newer_raw = ObjectInfo("hours/x", 1, 4)
    assert hour_state(HOUR, history, newer_raw, None, curated_known=False).normalized == "stale"
    # the curated bucket read, and the object is gone: no longer loaded
    gone = hour_state(HOUR, history, raw_object, None, curated_known=True)
    assert (gone.normalized, gone.loaded) == ("deleted", "stale") and not gone.complete
    assert "normalize the hour again" in gone.notes[0]


def test_a_corrupt_ledger_does_not_block_its_day(tmp_path: Path) -> None:
    """The trigger's settlement and the sweep read every hour's ledger of a day: one unreadable
    ledger used to fail them all (LedgerError) until removed by hand. Now that hour is waiting
    until a stage records it again (here: ingest finds it missing), which replaces the bad ledger."""
    from gharchive_pipeline import layout
    from gharchive_pipeline.stages.settle import settle_day
    from gharchive_pipeline.stages.sweep import find_work

    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    day = Hour.parse("2015-01-01T00")
    for h in range(23):
        curated.put_bytes(layout.curated_object(day + h), b"pq")
    raw.put_bytes(ledger_object(day + 23), b"\xff not json")
    raw.put_bytes(ledger_object(day + 5), b"\xff not json either")  # a curated hour's ledger

    settlement = settle_day(curated, raw, day.start.date())
    assert settlement.waiting == (day + 23,) and not settlement.settled
    [work] = find_work(raw, curated, day.start.date(), day.start.date())
    assert len(work.pending) == 23 and work.waiting == (day + 23,)

    append_entry(raw, day + 23, entry("ingest", "missing"))
    assert settle_day(curated, raw, day.start.date()).settled
