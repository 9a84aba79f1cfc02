"""The normalizer on every real GH Archive file in data/gharchive (all eras, both servings)."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import PIPELINE_VERSION, schema
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import NormalizeResult, normalize
from gharchive_pipeline.normalize.ids import DERIVED_PREFIX

from ..conftest import COMPLETE_HOURS, DATA

VARIANT = "variant-preobfuscation/2015-01-01-1.json.gz"
PARTIALS: dict[str, tuple[int, str | None]] = {  # file -> (events, hour when the name has none)
    "partial/2021-01-01-1.json.gz": (1000, None),
    "partial/2018-01-01-0.json": (10, None),
    "partial/sample.small.json": (1304, "2014-01-09T05"),
    "partial/push_event_pre_drift_2024-05-21-0.json": (1, "2024-05-21T00"),
    "partial/push_event_post_drift_2025-12-15-0.json": (1, "2025-12-15T00"),
}
ERAS = {
    "2011-02-15-0.json.gz": "backfill",
    "2012-02-15-0.json.gz": "backfill",
    "2012-06-14-15.json.gz": "timeline",
    "2012-10-13-0.json.gz": "timeline",
    "2014-02-15-0.json.gz": "timeline",
}
#: true created_at range in UTC (SOURCES.md gives the Timeline hours in US-Pacific offsets)
UTC_RANGES = {
    "2011-02-15-0.json.gz": ("2011-02-15T00:00:06", "2011-02-15T00:59:58"),
    "2012-06-14-15.json.gz": ("2012-06-14T22:01:39", "2012-06-14T23:01:37"),
    "2012-10-13-0.json.gz": ("2012-10-13T07:00:12", "2012-10-13T08:00:08"),
    "2014-02-15-0.json.gz": ("2014-02-15T08:03:54", "2014-02-15T09:03:52"),
    "2015-01-01-0.json.gz": ("2015-01-01T00:00:00", "2015-01-01T00:59:58"),
}


def raw_events(name: str) -> list[dict[str, Any]]:
    path = DATA / name
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data.lstrip().startswith(b"{\n"):
        return [orjson.loads(data)]
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


class Normalized:
    """Every real file normalized once per session (the fixture below)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.results: dict[str, NormalizeResult] = {}
        self._tables: dict[str, pa.Table] = {}

    def run(self, name: str, hour: str | None = None, suffix: str = "") -> NormalizeResult:
        key = name + suffix
        if key not in self.results:
            dst = self.out / (key.replace("/", "_") + ".parquet")
            self.results[key] = normalize(DATA / name, dst, hour=Hour.parse(hour) if hour else None)
        return self.results[key]

    def table(self, name: str, hour: str | None = None) -> pa.Table:
        if name not in self._tables:
            self._tables[name] = pq.read_table(self.run(name, hour).output)
        return self._tables[name]

    def rows(self, name: str, hour: str | None = None) -> list[dict[str, Any]]:
        return self.table(name, hour).to_pylist()


@pytest.fixture(scope="session")
def normalized(tmp_path_factory: pytest.TempPathFactory) -> Normalized:
    return Normalized(tmp_path_factory.mktemp("normalized"))


ALL_FILES = [*COMPLETE_HOURS, VARIANT, *PARTIALS]


def expected(name: str) -> tuple[int, str | None]:
    if name in COMPLETE_HOURS:
        return COMPLETE_HOURS[name], None
    if name == VARIANT:
        return 7427, None
    return PARTIALS[name]


@pytest.mark.parametrize("name", ALL_FILES)
def test_exact_event_counts_schema_and_zstd(normalized: Normalized, name: str) -> None:
    count, hour = expected(name)
    result = normalized.run(name, hour)
    assert (result.events, result.rejects, result.lines) == (count, 0, count)
    assert result.rejects_path is None and not result.salvaged
    parquet = pq.ParquetFile(result.output)
    assert parquet.schema_arrow == schema.arrow_schema()
    assert parquet.metadata.num_rows == count
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize("name", ALL_FILES)
def test_lineage_columns(normalized: Normalized, name: str) -> None:
    _, hour = expected(name)
    table = normalized.table(name, hour)
    result = normalized.results[name]
    assert set(table.column("source_hour").to_pylist()) == {result.hour.start}
    assert set(table.column("pipeline_version").to_pylist()) == {PIPELINE_VERSION}
    assert len(set(table.column("ingested_at").to_pylist())) == 1
    assert Counter(table.column("schema_era").to_pylist()) == Counter(result.eras)
    assert result.era == ERAS.get(name, "events")


def test_mixed_file_reports_counts_per_era(normalized: Normalized) -> None:
    result = normalized.run("partial/sample.small.json", "2014-01-09T05")
    assert result.eras == {"timeline": 140, "events": 1164}
    assert result.input_kind == "ndjson"


@pytest.mark.parametrize("name", list(UTC_RANGES))
def test_created_at_is_the_true_utc_instant(normalized: Normalized, name: str) -> None:
    column = normalized.table(name).column("created_at")
    assert column.type == pa.timestamp("us", tz="UTC")
    low, high = UTC_RANGES[name]
    values = column.to_pylist()
    assert min(values) == datetime.fromisoformat(low).replace(tzinfo=UTC)
    assert max(values) == datetime.fromisoformat(high).replace(tzinfo=UTC)


def test_created_at_order_follows_the_source(normalized: Normalized) -> None:
    rows = normalized.rows("2012-06-14-15.json.gz")
    raw = raw_events("2012-06-14-15.json.gz")
    for row, event in zip(rows, raw, strict=True):
        assert row["created_at"] == datetime.fromisoformat(event["created_at"])


@pytest.mark.parametrize("name", [*COMPLETE_HOURS, VARIANT])
def test_ids_unique_and_stable_across_runs(normalized: Normalized, name: str, tmp_path: Path) -> None:
    ids = normalized.table(name).column("id").to_pylist()
    again = normalize(DATA / name, tmp_path / "again.parquet")
    assert pq.read_table(again.output).column("id").to_pylist() == ids
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    if name == "2012-06-14-15.json.gz":
        # one real duplicate: the same PullRequestEvent served twice (keys in another order)
        assert len(duplicates) == 1 and duplicates[0].startswith(DERIVED_PREFIX)
    else:
        assert duplicates == []
    derived = [i.startswith(DERIVED_PREFIX) for i in ids]
    assert all(derived) == (ERAS.get(name) == "timeline")
    assert any(derived) == (ERAS.get(name) == "timeline")


def test_the_duplicate_timeline_event_is_a_real_duplicate() -> None:
    raw = raw_events("2012-06-14-15.json.gz")
    canon = Counter(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in raw)
    assert sorted(canon.values())[-1] == 2 and len(canon) == 5312


@pytest.mark.parametrize("name", ALL_FILES)
def test_actor_and_repo_filled_where_the_source_has_them(normalized: Normalized, name: str) -> None:
    _, hour = expected(name)
    for row, event in zip(normalized.rows(name, hour), raw_events(name), strict=True):
        actor = event.get("actor")
        login = actor.get("login") if isinstance(actor, dict) else actor
        assert row["actor_login"] == login
        if isinstance(actor, dict):
            assert row["actor_id"] == actor.get("id")
        repo = event.get("repo") or event.get("repository")
        if repo:
            assert row["repo_name"] and row["repo_name"].count("/") == 1
            assert row["repo_name"].endswith("/" + repo["name"].split("/")[-1])
        else:
            assert row["repo_name"] is None
        assert row["type"] == event["type"]
        assert row["public"] == event["public"]


def one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, match
    return found[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def sha1_email(local: str, domain: str) -> str:
    return hashlib.sha1(local.encode()).hexdigest() + "@" + domain


def test_hand_checked_events_2015(normalized: Normalized) -> None:
    rows = normalized.rows("2015-01-01-0.json.gz")
    push = one(rows, id="2489368070")
    assert (push["type"], push["created_at"], push["actor_id"], push["actor_login"]) == (
        "PushEvent",
        ts("2015-01-01T00:00:00Z"),
        9152315,
        "davidjhulse",
    )
    assert (push["repo_id"], push["repo_name"], push["org_id"], push["org_login"]) == (
        28635890,
        "davidjhulse/davesbingrewardsbot",
        None,
        None,
    )
    assert (push["ref"], push["push_size"], push["push_distinct_size"], push["action"]) == (
        "refs/heads/master",
        1,
        1,
        None,
    )
    assert (push["number"], push["pr_merged"], push["is_bot"], push["other"]) == (None, None, False, None)
    payload = orjson.loads(push["payload"])
    assert payload["commits"][0]["author"] == {
        "email": sha1_email("david.hulse", "live.com"),
        "name": "davidjhulse",
    }
    assert payload["head"] == "a9b22a6d80c1e0bb49c1cf75a3c075b642c28f81"
    big = one(rows, id="2489368786")  # a push of 81 commits lists only 20
    assert (big["push_size"], big["push_distinct_size"], len(orjson.loads(big["payload"])["commits"])) == (
        81,
        81,
        20,
    )
    merged = one(rows, id="2489368455")
    assert (merged["type"], merged["action"], merged["number"], merged["pr_merged"]) == (
        "PullRequestEvent",
        "closed",
        124,
        True,
    )
    assert (merged["repo_name"], merged["org_login"], merged["push_size"]) == (
        "selfhub/selfhub",
        "selfhub",
        None,
    )
    issue = one(rows, id="2489368454")
    assert (issue["type"], issue["action"], issue["number"], issue["pr_merged"]) == (
        "IssuesEvent",
        "closed",
        117,
        None,
    )
    tag = one(rows, id="2489368195")
    assert (tag["type"], tag["ref"], tag["ref_type"], tag["push_size"]) == (
        "CreateEvent",
        "0.0.184",
        "tag",
        None,
    )


def test_hand_checked_events_backfill(normalized: Normalized) -> None:
    rows = normalized.rows("2011-02-15-0.json.gz")
    push = one(rows, id="1132219608")
    assert (
        push["schema_era"],
        push["actor_id"],
        push["actor_login"],
        push["repo_id"],
        push["repo_name"],
    ) == ("backfill", 394, "revans", 1355856, "revans/chef-ubuntu10")
    # 2011 shas entries carry no distinct flag: size known, distinct size unknown
    assert (push["push_size"], push["push_distinct_size"], push["ref"]) == (1, None, "refs/heads/master")
    assert orjson.loads(push["payload"])["shas"][0][1] == sha1_email("robert", "codewranglers.org")
    follow = one(normalized.rows("2012-02-15-0.json.gz"), id="1519872082")
    target = orjson.loads(follow["payload"])["target"]
    assert target["email"] == sha1_email("j+github", "jaesharp.com") and target["login"] == "justinlynn"


def test_hand_checked_events_timeline(normalized: Normalized) -> None:
    rows = normalized.rows("2012-06-14-15.json.gz")
    issue = rows[0]
    assert (issue["type"], issue["action"], issue["number"], issue["created_at"]) == (
        "IssuesEvent",
        "opened",
        294,
        ts("2012-06-14T15:01:42-07:00"),
    )
    assert (
        issue["actor_id"],
        issue["actor_login"],
        issue["repo_id"],
        issue["repo_name"],
        issue["org_login"],
    ) == (None, "mikedm139", None, "plexinc-plugins/Services.bundle", "plexinc-plugins")
    other = orjson.loads(issue["other"])
    assert set(other) == {"actor_attributes", "repository", "url"}
    assert other["url"] == "https://github.com/plexinc-plugins/Services.bundle/issues/294"
    # the 2016 re-issue already holds sha1("") here
    assert other["actor_attributes"]["email"] == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    gist = rows[44]  # anonymous gist: actor null, no repository
    assert (gist["type"], gist["actor_login"], gist["is_bot"], gist["repo_name"], gist["repo_id"]) == (
        "GistEvent",
        None,
        None,
        None,
        None,
    )
    push = normalized.rows("2014-02-15-0.json.gz")[1]
    assert (push["type"], push["actor_login"], push["repo_id"], push["repo_name"], push["created_at"]) == (
        "PushEvent",
        "maurizio-meluzzi",
        16042873,
        "maurizio-meluzzi/Tirocinio",
        ts("2014-02-15T08:03:54Z"),
    )
    assert (push["push_size"], push["push_distinct_size"], push["ref"]) == (1, 1, "refs/heads/master")
    assert orjson.loads(push["payload"])["shas"][0][1] == sha1_email("maurizio.meluzzi", "gmail.com")
    watch = normalized.rows("2014-02-15-0.json.gz")[0]
    attributes = orjson.loads(watch["other"])["actor_attributes"]
    assert attributes["email"] == sha1_email("talal.obeid", "gmail.com")
    assert (watch["repo_name"], watch["org_login"], watch["action"]) == (
        "OpenEmu/OpenEmu",
        "OpenEmu",
        "started",
    )


def test_hand_checked_bot_and_drift(normalized: Normalized) -> None:
    bot = normalized.rows("partial/2021-01-01-1.json.gz")[10]
    assert (bot["id"], bot["actor_login"], bot["is_bot"]) == ("14684219615", "github-actions[bot]", True)
    pre = normalized.rows("partial/push_event_pre_drift_2024-05-21-0.json", "2024-05-21T00")[0]
    assert (pre["id"], pre["push_size"], pre["push_distinct_size"]) == ("38549213316", 1, 1)
    post = normalized.rows("partial/push_event_post_drift_2025-12-15-0.json", "2025-12-15T00")[0]
    assert (post["id"], post["ref"], post["push_size"], post["push_distinct_size"]) == (
        "6725093205",
        "refs/heads/master",
        None,
        None,
    )
    assert normalized.results["partial/push_event_post_drift_2025-12-15-0.json"].input_kind == "document"


@pytest.mark.parametrize("name", ["2015-01-01-0.json.gz", "2012-10-13-0.json.gz"])
def test_payload_is_the_source_payload_when_it_holds_no_email(normalized: Normalized, name: str) -> None:
    checked = 0
    for row, event in zip(normalized.rows(name), raw_events(name), strict=True):
        # e-mail FIELDS (PushEvent commits/shas, FollowEvent target) are hashed even without '@'
        if event["type"] in ("PushEvent", "FollowEvent") or event.get("payload") is None:
            continue
        if b"@" not in orjson.dumps(event["payload"]):
            assert orjson.loads(row["payload"]) == event["payload"]
            checked += 1
    assert checked > 1000


def test_both_servings_of_2015_01_01_1_normalize_identically(normalized: Normalized) -> None:
    reissued = normalized.table("2015-01-01-1.json.gz").drop_columns(["ingested_at"])
    original = normalized.table(VARIANT).drop_columns(["ingested_at"])
    assert reissued.num_rows == original.num_rows == 7427
    for name in reissued.column_names:
        assert reissued.column(name).equals(original.column(name)), name
