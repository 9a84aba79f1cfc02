"""`gharchive renormalize --home`: real bundled hours normalized by an older pipeline version are
normalized again through the local chain (ingest stores the raw object again, its finalize event
has normalize replace the hour), each touched UTC day is rebuilt once, the warehouse then equals a
clean run's, and a second renormalize does nothing.

The "older version" is made by running the first pass with the package's version patched (the
normalizer stamps it on every row and the stage on the curated object), the way an older release
would have written them; the runs are in-process (one worker), so the patch reaches the stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import gharchive_pipeline
import gharchive_pipeline.normalize.hour as normalizer
from gharchive_pipeline import PIPELINE_VERSION, layout
from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.local.renormalize import plan, rebuilt_days, renormalize_hours
from gharchive_pipeline.local.runner import run_hours
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA

START, END = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T01")
OLDER = "0.0.1"


def run(home: Path) -> None:
    report = run_hours(START, END, home=home, source=str(DATA), workers=1)
    assert report.ok, report.failures


def statuses(home: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["status", "--home", str(home), START.key, END.key, "--json"])
    assert result.exit_code == 0, result.output
    return {r["hour"]: r for r in map(json.loads, result.output.splitlines())}


def warehouse_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every event row of the warehouse, `pipeline_version` first, all columns but the normalize
    time (`ingested_at` differs run to run)."""
    glob = str(home / "warehouse" / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    source = f"read_parquet('{glob}', union_by_name=true)"
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    rest = [n for n in names if n not in ("ingested_at", "pipeline_version")]
    select = ", ".join(f'"{n}"' for n in ["pipeline_version", *rest])
    return con.execute(f"SELECT {select} FROM {source} ORDER BY ALL").fetchall()


def test_renormalize_brings_older_hours_to_this_version_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert OLDER != PIPELINE_VERSION
    home, clean = tmp_path / "home", tmp_path / "clean"
    with monkeypatch.context() as older:
        older.setattr(gharchive_pipeline, "PIPELINE_VERSION", OLDER)
        older.setattr(normalizer, "PIPELINE_VERSION", OLDER)
        run(home)
    before = statuses(home)
    assert {r["version"] for r in before.values()} == {OLDER}
    assert {r[0] for r in warehouse_rows(home)} == {OLDER}
    raw, curated = open_storage(str(home / "raw")), open_storage(str(home / "curated"))
    assert plan(raw, curated, [START, END, END + 1]).stale == [START, END]

    todo, report = renormalize_hours(START, END + 1, home=home)
    assert report.ok, (report.failures, report.day_failures)
    assert (todo.stale, todo.current, todo.absent) == ([START, END], [], [END + 1])
    days = rebuilt_days(report)
    assert days and len(days) == len(set(days))  # each touched day rebuilt exactly once
    after = statuses(home)
    for hour in (START, END):
        row = after[hour.key]
        assert (row["version"], row["normalized"], row["loaded"]) == (
            PIPELINE_VERSION,
            "normalized",
            "loaded",
        )
        assert row["events"] == before[hour.key]["events"]
        info = curated.stat(layout.curated_object(hour))
        assert info is not None and info.metadata["pipeline_version"] == PIPELINE_VERSION
        entries = read_ledger(raw, hour)
        assert [str(e.outcome) for e in entries if e.stage == "ingest"] == ["stored", "rewritten"]
        normalized = [e for e in entries if e.stage == "normalize"]
        assert [e.details["pipeline_version"] for e in normalized] == [OLDER, PIPELINE_VERSION]
        # loaded by the first run's day rebuild, then once more: the new curated version
        loaded = [e.curated_generation for e in entries if e.stage == "load" and e.outcome == "loaded"]
        assert loaded == [normalized[0].curated_generation, info.generation]

    # the warehouse equals a clean run at this version
    run(clean)
    assert warehouse_rows(home) == warehouse_rows(clean)

    # again: nothing to do, nothing written
    ledgers = {h: len(read_ledger(raw, h)) for h in (START, END)}
    generations = {o.name: o.generation for o in curated.list()}
    result = CliRunner().invoke(cli, ["renormalize", START.key, END.key, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "0 hour(s) normalized again" in result.output and "0 day(s) rebuilt" in result.output
    assert {h: len(read_ledger(raw, h)) for h in (START, END)} == ledgers
    assert {o.name: o.generation for o in curated.list()} == generations


def test_renormalize_resumes_after_a_kill_between_rewrite_and_normalize(tmp_path: Path) -> None:
    """The raw object was stored again (marked for this version) but normalize never ran: the next
    renormalize replays its finalize event instead of asking ingest again (which would skip it)."""
    home = tmp_path / "home"
    run(home)
    raw, curated = open_storage(str(home / "raw")), open_storage(str(home / "curated"))
    info = curated.stat(layout.curated_object(START))
    assert info is not None
    curated.put_file(  # an older version's curated object, as it was before the kill
        layout.curated_object(START),
        Path(curated.url) / layout.curated_object(START),
        metadata={**info.metadata, "pipeline_version": OLDER},
    )
    obj = raw.stat(layout.raw_object(START))
    assert obj is not None
    raw.rewrite(
        obj.name,
        metadata={**obj.metadata, "renormalize": PIPELINE_VERSION},
        if_generation_match=obj.generation,
    )

    todo, report = renormalize_hours(START, END, home=home)
    assert report.ok and todo.stale == [START]
    assert statuses(home)[START.key]["version"] == PIPELINE_VERSION
    assert rebuilt_days(report) == [START.start.date()]


def test_renormalize_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["renormalize", START.key, END.key, "--home", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no home" in result.output
    result = runner.invoke(cli, ["renormalize", END.key, START.key, "--home", str(tmp_path)])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["renormalize", START.key, END.key, "--curated", "gs://b"])
    assert result.exit_code == 2 and "--topic" in result.output
    result = runner.invoke(cli, ["renormalize", START.key, END.key, "--topic", "nope"])
    assert result.exit_code == 2 and "topic" in result.output


def test_renormalize_retries_an_hour_an_older_normalizer_refused(tmp_path: Path) -> None:
    """An hour the normalizer of an older version failed (no curated object; the ledger says which
    version) is normalized again; one this version refused is left alone."""
    from gharchive_pipeline.outcome import NormalizeOutcome, Stage
    from gharchive_pipeline.stages import StageOutcome, record

    home = tmp_path / "home"
    run(home)
    raw, curated = open_storage(str(home / "raw")), open_storage(str(home / "curated"))
    curated.delete(layout.curated_object(START))
    details = {"error": "an older mapping refused it", "pipeline_version": OLDER}
    record(StageOutcome(Stage.NORMALIZE, NormalizeOutcome.FAILED, START, "raw", details), raw)
    assert plan(raw, curated, [START, END]).stale == [START]

    todo, report = renormalize_hours(START, END, home=home, workers=1)
    assert report.ok and todo.stale == [START]
    row = statuses(home)[START.key]
    assert (row["version"], row["normalized"], row["loaded"]) == (PIPELINE_VERSION, "normalized", "loaded")
    assert plan(raw, curated, [START, END]).stale == []

    # refused by this version: current (a second run does not try it again)
    curated.delete(layout.curated_object(START))
    details["pipeline_version"] = PIPELINE_VERSION
    record(StageOutcome(Stage.NORMALIZE, NormalizeOutcome.FAILED, START, "raw", details), raw)
    assert plan(raw, curated, [START, END]).current == [START, END]
