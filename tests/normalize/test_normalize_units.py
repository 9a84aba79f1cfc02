"""Pure pieces of the normalizer: timestamps, curated columns, bots, derived ids, eras."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gharchive_pipeline.normalize.curated import Curated, curated, is_bot, push_sizes
from gharchive_pipeline.normalize.eras import BACKFILL, EVENTS, TIMELINE, EventMapper, RowError, detect_era
from gharchive_pipeline.normalize.ids import DERIVED_PREFIX, derived_id
from gharchive_pipeline.normalize.timestamps import TimestampError, parse_timestamp


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2015-01-01T00:00:00Z", "2015-01-01T00:00:00"),
        ("2012-06-14T15:01:42-07:00", "2012-06-14T22:01:42"),
        ("2014-02-15T00:03:54-08:00", "2014-02-15T08:03:54"),
        ("2012/03/11 12:00:00 -0700", "2012-03-11T19:00:00"),  # seen in the real 2012-03-11-12 hour
        ("2015-01-01T05:00:00", "2015-01-01T05:00:00"),  # no offset: UTC
    ],
)
def test_timestamps_become_the_utc_instant(value: str, utc: str) -> None:
    assert parse_timestamp(value) == micros(utc)


@pytest.mark.parametrize("value", ["yesterday", "2015-13-01T00:00:00Z", "", 1420070400, None])
def test_bad_timestamps(value: object) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(value)


def test_bots() -> None:
    assert is_bot("dependabot[bot]") and is_bot("GitHub-Actions[BOT]") and is_bot("renovate-bot")
    assert is_bot("ci_bot")
    assert not is_bot("abbott") and not is_bot("robotics") and not is_bot("bot")
    assert is_bot(None) is None


def test_push_sizes_from_every_era() -> None:
    assert push_sizes({"size": 81, "distinct_size": 80, "commits": [{}] * 20}) == (81, 80)
    assert push_sizes({"commits": [{"distinct": True}, {"distinct": False}]}) == (2, 1)
    assert push_sizes({"shas": [["a", "e", "m", "n", True], ["b", "e", "m", "n", False]]}) == (2, 1)
    assert push_sizes({"size": 1, "shas": [["a", "e", "m", "n"]]}) == (1, None)  # 2011: no flag
    assert push_sizes({"ref": "refs/heads/main", "head": "x"}) == (None, None)  # late-2025 PushEvent


def test_curated_only_says_what_the_payload_says() -> None:
    pr = {"action": "closed", "number": 5, "pull_request": {"number": 5, "merged": False}}
    assert curated("PullRequestEvent", pr, "a") == Curated(
        action="closed", number=5, pr_merged=False, is_bot=False
    )
    assert curated("IssueCommentEvent", {"action": "created", "issue": {"number": 7}}, "a").number == 7
    assert curated("IssuesEvent", {"action": "opened", "issue": 5082481, "number": 294}, "a").number == 294
    assert curated("CreateEvent", {"ref": "v1", "ref_type": "tag"}, "x[bot]") == Curated(
        ref="v1", ref_type="tag", is_bot=True
    )
    assert curated("GistEvent", None, None) == Curated()


def test_derived_ids_are_stable_and_key_order_free() -> None:
    a = {"type": "WatchEvent", "actor": "x", "created_at": "2012-06-14T15:01:42-07:00"}
    b = dict(reversed(list(a.items())))
    assert derived_id(a) == derived_id(b) and derived_id(a).startswith(DERIVED_PREFIX)
    assert derived_id(a) != derived_id({**a, "actor": "y"})


def test_era_detection() -> None:
    assert detect_era({"actor": "x", "repository": {}}) == TIMELINE
    assert detect_era({"actor": None}) == TIMELINE
    assert detect_era({"actor": {}, "repo": {"url": "https://api.github.dev/repos/a/b"}}) == BACKFILL
    assert detect_era({"actor": {}, "repo": {"url": "https://api.github.com/repos/a/b"}}) == EVENTS


def test_unusable_events_are_row_errors() -> None:
    mapper = EventMapper()
    with pytest.raises(RowError, match="type"):
        mapper.map({"created_at": "2015-01-01T00:00:00Z"})
    with pytest.raises(RowError, match="created_at"):
        mapper.map({"type": "PushEvent"})
    row = mapper.map({"type": "PushEvent", "created_at": "2015-01-01T00:00:00Z", "surprise": {"a": 1}})
    assert row.envelope.id.startswith(DERIVED_PREFIX)  # id derived
    assert row.envelope.other == b'{"surprise":{"a":1}}'  # other kept
