"""The rich typed columns (pull requests, issues, comments, reviews, releases, members, forks,
wikis) on real hours of every era: values of specific events, null where the era's payload does not
carry the fact, e-mails hashed, `payload` kept whole. Each hour is normalized as a run does (the C
kernel for Events-era lines where it is built, Python for the rest)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import schema
from gharchive_pipeline.normalize import native, normalize
from gharchive_pipeline.normalize.eras import EventMapper
from gharchive_pipeline.normalize.pii import hash_email

from ..conftest import DATA

#: the columns added after the first schema (appended after the lineage columns)
RICH = schema.COLUMN_NAMES[schema.COLUMN_NAMES.index("pipeline_version") + 1 :]


@cache
def rows(name: str) -> dict[str, dict[str, Any]]:
    out = Path(f"/tmp/gharchive-rich-{name.replace('/', '_')}.parquet")
    normalize(DATA / name, out)
    table = pq.read_table(out)
    out.unlink()
    return {r["id"]: r for r in table.to_pylist()}


def rich(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in RICH and v is not None}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_backfill_2011_pull_request_member_and_commit_comment() -> None:
    hour = rows("2011-02-15-0.json.gz")
    assert rich(hour["1132229137"]) == {  # the 2011 pull_request object has only these facts
        "pr_title": "  [FIXED JENKINS-8790] Build Queue Fails for Parameterized Matrix Projects.",
        "pr_additions": 30,
        "pr_deletions": 5,
        "pr_commits": 1,
    }
    assert rich(hour["1132219645"]) == {"member_login": "rnirmal"}  # `member` is a login string
    assert rich(hour["1132221036"]) == {  # comment_id and commit beside, no comment object
        "comment_id": 271424,
        "comment_commit_id": "f9b431473c0df08af57c11e3fe4f315b2d28a7a2",
    }


def test_timeline_2012_pull_request_and_comments() -> None:
    hour = rows("2012-06-14-15.json.gz")
    assert rich(hour["gha-4a7730e98c99452ad86cdd633aa1a81f"]) == {
        "pr_title": "Seth's changes June 14, 2012",
        "pr_state": "open",
        "pr_additions": 34,
        "pr_deletions": 47,
        "pr_changed_files": 1,
        "pr_commits": 2,
        "pr_comments": 0,
        "pr_review_comments": 0,
        "pr_head_ref": "master",
        "pr_head_sha": "9db3ab74f7629781a2ee86568e79dab61f620ae9",
        "pr_base_ref": "master",
        "pr_base_sha": "e268ee5daa534c5456b76610adb5d922739c672e",
    }
    assert rich(hour["gha-78c2d9cd8380602942bf904dcebb62ea"]) == {  # a review comment
        "comment_id": 989247,
        "comment_commit_id": "bd29b5dbb61ed21a63529a0fb15faa14fb9811c5",
        "comment_path": "piplmesh/settings.py",
        "comment_position": 23,
    }
    assert rich(hour["gha-5497f4c6f871198e3b60b35917526651"]) == {  # a Timeline commit comment: ids only
        "comment_id": 1460747,
        "comment_commit_id": "3fea35037910c5f5d33c9f8fd8a70c2b99bbab2e",
    }
    issues = [r for r in hour.values() if r["type"] == "IssuesEvent"]
    assert issues and all(r["issue_title"] is None and r["number"] for r in issues)  # `issue` is an id


def test_timeline_2014_merged_pull_request_and_release() -> None:
    hour = rows("2014-02-15-0.json.gz")
    pr = hour["gha-cba1a3660182c587c97efa96a4a28999"]
    assert pr["pr_merged"] is True and pr["pr_merged_by"] == "saniul"
    assert pr["pr_merged_at"] == pr["pr_closed_at"] == utc("2014-02-15T08:04:40Z")
    assert (pr["pr_additions"], pr["pr_deletions"], pr["pr_changed_files"]) == (4, 0, 1)
    assert rich(hour["gha-83ba090cc98ed5b8c7b7b8a23c3fb1f9"]) == {
        "release_tag": "v1.1",
        "release_name": "Second Release",
    }


def test_events_2015_pull_request_issue_comment_and_others() -> None:
    hour = rows("2015-01-01-0.json.gz")
    assert rich(hour["2489368455"]) == {
        "pr_title": "make AWS S3 bucket prefix an environmental variable",
        "pr_state": "closed",
        "pr_merged_at": utc("2015-01-01T00:00:30Z"),
        "pr_closed_at": utc("2015-01-01T00:00:30Z"),
        "pr_additions": 2,
        "pr_deletions": 6,
        "pr_changed_files": 2,
        "pr_commits": 1,
        "pr_comments": 1,
        "pr_review_comments": 1,
        "pr_head_ref": "feature/env",
        "pr_head_sha": "47c1cd384b3deb0427e7e546e8d6b4346a65d816",
        "pr_base_ref": "develop",
        "pr_base_sha": "3e544c66d5c9400e08792b410efb72237521d1a0",
        "pr_merged_by": "zindlerb",
    }
    assert rich(hour["2489368364"]) == {
        "issue_title": "v0.6.2-rc1",
        "issue_state": "open",
        "issue_labels": '["ayuda requerida","mejora"]',
        "issue_comments": 1,
        "comment_id": 68475790,
    }
    review_comment = rich(hour["2489368161"])
    assert review_comment["comment_path"] == "server/db/s3.js" and review_comment["comment_position"] == 5
    assert review_comment["pr_title"] == "make AWS S3 bucket prefix an environmental variable"
    assert rich(hour["2489371017"])["comment_line"] == 7207  # a commit comment on a line
    assert rich(hour["2489368304"]) == {"fork_full_name": "bruschill/macvim"}
    assert rich(hour["2489369515"]) == {"release_tag": "v8.2.0", "release_name": "deal.II version 8.2.0"}
    assert rich(hour["2489370500"]) == {"member_login": "alanchiao"}
    assert rich(hour["2489368838"]) == {"wiki_pages": 1}
    # payload stays whole: the typed columns are copies
    assert orjson.loads(hour["2489368455"]["payload"])["pull_request"]["merged_by"]["login"] == "zindlerb"


def test_events_2021_review_and_author_association() -> None:
    hour = rows("partial/2021-01-01-1.json.gz")
    assert hour["14684219685"]["review_state"] == "approved"
    assert hour["14684219685"]["pr_author_association"] == "CONTRIBUTOR"
    pr = hour["14684219773"]
    assert (pr["pr_author_association"], pr["pr_merged_by"], pr["pr_additions"]) == (
        "NONE",
        "danielorozco14",
        71,
    )


def test_columns_a_type_does_not_carry_are_null() -> None:
    for row in rows("2015-01-01-0.json.gz").values():
        if row["type"] in ("PushEvent", "WatchEvent", "CreateEvent", "DeleteEvent"):
            assert not rich(row), row["id"]


def _event(payload: dict[str, Any], kind: str = "IssuesEvent") -> bytes:
    return orjson.dumps(
        {"id": "1", "type": kind, "actor": {"id": 1, "login": "a"}, "repo": {"id": 2, "name": "a/b"},
         "payload": payload, "public": True, "created_at": "2015-01-01T00:00:00Z"}
    )  # fmt: skip


@pytest.mark.parametrize("use_native", [False, True])
def test_text_columns_are_email_scrubbed(use_native: bool) -> None:
    if use_native and not native.AVAILABLE:
        pytest.skip("native fast path not built")
    line = _event(
        {
            "action": "opened",
            "issue": {"number": 1, "title": "mail john.doe@example.com", "labels": [{"name": "x@corp.io"}]},
            "pull_request": {"head": {"ref": "jane@example.org"}, "merged_by": {"login": "a"}},
        }
    )
    if use_native:
        chunk = native.map_lines([line])
        assert chunk is not None and chunk.rows == 0  # the C kernel leaves '@' to Python's scrubber
    row = EventMapper().map(orjson.loads(line)).curated
    assert row.issue_title == f"mail {hash_email('john.doe@example.com')}"
    assert row.issue_labels == orjson.dumps([hash_email("x@corp.io")]).decode()
    assert row.pr_head_ref == hash_email("jane@example.org") and row.pr_merged_by == "a"


@pytest.mark.skipif(not native.AVAILABLE, reason="native fast path not built")
@pytest.mark.parametrize(
    ("title", "taken"),
    [("Use @sh? cc @bob", True), ("@printf fails", True), ("(@x) and x[@y]", True),
     ("ann@x.org", False), ('"ann"@x.org', False), ("a.@x.org", False), ("x%40y.org", False)],
)  # fmt: skip
def test_mentions_stay_native_addresses_go_to_python(title: str, taken: bool) -> None:
    """An '@' after a local-part character or a quote may end an address: Python's scrubber decides."""
    line = _event({"action": "opened", "issue": {"number": 1, "title": title}})
    chunk = native.map_lines([line])
    assert chunk is not None and chunk.rows == int(taken)
    expected = EventMapper().map(orjson.loads(line)).curated.issue_title
    if taken:
        assert chunk.columns["issue_title"].to_pylist() == [title] == [expected]
    else:
        assert expected != title


def test_a_typed_fact_of_the_wrong_kind_is_a_reject(tmp_path: Path) -> None:
    src = tmp_path / "2015-01-01-0.json"
    good = [_event({"issue": {"number": i, "title": "t"}}) for i in range(200)]
    bad = _event({"pull_request": {"additions": "many"}}, "PullRequestEvent")
    late = _event({"pull_request": {"merged_at": "yesterday"}}, "PullRequestEvent")
    src.write_bytes(b"\n".join([*good, bad, late]))
    result = normalize(src, tmp_path / "out.parquet")
    assert result.events == 200 and result.rejects == 2
    reasons = [orjson.loads(r)["reason"] for r in result.rejects_path.read_bytes().splitlines()]  # type: ignore[union-attr]
    assert reasons == [
        "payload.pull_request.additions is a string, not an integer",
        "payload.pull_request.merged_at 'yesterday' is not a timestamp",
    ]
