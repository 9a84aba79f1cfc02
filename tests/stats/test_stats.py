"""`gharchive stats` on real hours, checked against figures computed here from the raw gzip NDJSON files.

The warehouse is built by the real chain pieces: the normalizer's curated parquet (with GH Archive-style
duplicates added), the local day loader, then the CLI.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.stats import sql
from gharchive_pipeline.stats.query import stats
from gharchive_pipeline.stats.views import bigquery_views

from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, raw_counts, reset, write_rows

FILES = {HOUR0: "2015-01-01-0.json.gz", HOUR1: "2015-01-01-1.json.gz"}


def gharchive(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gharchive_pipeline.load.local_load import LocalDayLoader

    home = reset(tmp_path_factory.mktemp("stats") / "home")
    h0, h1 = cached_rows(FILES[HOUR0], HOUR0), cached_rows(FILES[HOUR1], HOUR1)
    put_curated(home / "curated", HOUR0, h0 + h0[-10:])  # within-hour duplicates
    spill = [{**r, "source_hour": HOUR1.start} for r in h0[:25]]  # hour 0's events again in hour 1
    put_curated(home / "curated", HOUR1, h1 + spill)
    LocalDayLoader(home).rebuild(HOUR0.start.date())
    return home


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return raw_counts(list(FILES.values()))


@pytest.mark.slow
def test_stats_by_type_match_raw_files(home: Path, raw: dict[str, Any]) -> None:
    result = gharchive("stats", "--home", str(home), "--by", "type", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["type"]: r["events"] for r in rows} == raw["by_type"]
    push = next(r for r in rows if r["type"] == "PushEvent")
    assert (push["pushes"], push["commits"]) == (raw["pushes"], raw["commits"])
    assert push["pushes_unknown_size"] == 0
    prs = next(r for r in rows if r["type"] == "PullRequestEvent")  # from the typed pull request columns
    assert (prs["merged_prs"], prs["merged_pr_additions"]) == (raw["merged_prs"], raw["merged_pr_additions"])
    assert raw["merged_prs"] > 100 and push["merged_prs"] == 0


@pytest.mark.slow
def test_stats_by_day_and_hour_match_raw_files(home: Path, raw: dict[str, Any]) -> None:
    [day] = json.loads(gharchive("stats", "--home", str(home), "--by", "day", "--format", "json").output)
    assert day["day"] == "2015-01-01"
    assert (day["events"], day["actors"], day["repos"], day["commits"]) == (
        raw["events"],
        raw["actors"],
        raw["repos"],
        raw["commits"],
    )
    out = gharchive("stats", "--home", str(home), "--by", "hour", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(out)))
    for row, (hour, name) in zip(rows, FILES.items(), strict=True):
        one = raw_counts([name])
        assert row["hour"] == hour.key
        assert (int(row["events"]), int(row["actors"]), int(row["commits"])) == (
            one["events"],
            one["actors"],
            one["commits"],
        )


@pytest.mark.slow
def test_stats_window_and_table(home: Path) -> None:
    only = json.loads(gharchive("stats", "2015-01-01T01", "--home", str(home), "--format", "json").output)
    assert [(r["hour"], r["events"]) for r in only] == [("2015-01-01T01", 7427)]
    table = gharchive("stats", "--home", str(home), "--by", "repo", "--limit", "3")
    assert table.exit_code == 0 and "KenanSulayman/heartbeat" in table.output


def test_stats_errors_name_the_problem(tmp_path: Path) -> None:
    empty = gharchive("stats", "--home", str(tmp_path))
    assert empty.exit_code != 0 and "no hours loaded" in empty.output
    bad = gharchive("stats", "2015-13-01T00", "--home", str(tmp_path))
    assert bad.exit_code == 2 and "2015-13-01T00" in bad.output
    backwards = gharchive("stats", "2015-01-01T05", "2015-01-01T01", "--home", str(tmp_path))
    assert backwards.exit_code == 2 and "before" in backwards.output


def test_slim_pushes_are_counted_apart_not_as_zero_commits(tmp_path: Path) -> None:
    """2025 slim PushEvents have no size: `pushes_unknown_size`, never 0 commits; bots are shared out."""
    hour = Hour.parse("2015-01-01T00")
    rows = cached_rows(FILES[HOUR0], HOUR0)[:200]
    pushes = [r for r in rows if r["type"] == "PushEvent"]
    slim = {
        **pushes[0],
        "id": "slim-1",
        "push_size": None,
        "push_distinct_size": None,
        "is_bot": True,
        "actor_login": "deploy-bot",
    }
    write_rows([*rows, slim], tmp_path / "warehouse" / "events" / f"date={hour.date}" / "part-0.parquet")
    [push] = [r for r in stats(tmp_path / "warehouse", by="type").records() if r["type"] == "PushEvent"]
    assert push["pushes"] == len(pushes) + 1
    assert push["pushes_unknown_size"] == 1
    assert push["commits"] == sum(r["push_size"] for r in pushes)
    assert push["bot_actors"] >= 1 and 0 < push["bot_actor_share"] < 1


def test_sql_is_shared_and_views_are_ready_for_looker() -> None:
    # events is unique by construction (day partitions rebuilt deduplicated): events_unique is trivial,
    # and the statistics are tables refreshed per day (tests/load/test_days.py checks their SQL)
    views = bigquery_views("proj.gh")
    assert list(views) == ["events_unique"]
    assert "FROM `proj.gh.events`" in views["events_unique"]
    hourly = sql.hourly_stats_sql(sql.BIGQUERY, "`proj.gh.events`")
    assert "TIMESTAMP_TRUNC(created_at, HOUR)" in hourly
    for name, _ in sql.METRICS:
        assert f"AS {name}" in hourly
    with pytest.raises(ValueError, match="unknown grouping"):
        sql.grouping(sql.DUCKDB, "week")
