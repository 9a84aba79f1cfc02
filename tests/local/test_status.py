"""Per-hour status from ledgers and buckets (local storage; no services)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import LedgerEntry, append_entry
from gharchive_pipeline.local.status import collect_status, hour_status, known_hours, render_table
from gharchive_pipeline.storage import Storage, open_storage

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
