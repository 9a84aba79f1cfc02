"""Curated columns: the handful of payload facts most queries need, pulled out once.

Every value is null where the event does not say (e.g. PushEvents of late 2025 carry neither
`size` nor `commits`): a missing fact is never turned into 0 or false. A fact of the wrong JSON type
or out of range makes the line a reject (fields.py), and strings are e-mail-scrubbed (pii.py) like
the payload they come from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from .errors import RowError
from .fields import boolean, int64, kind, string
from .pii import scrub_text, scrub_value
from .timestamps import TimestampError, parse_timestamp


class Curated(NamedTuple):
    """The curated columns of one row: exactly schema.names("curated"), in table order (writer.py
    checks). Adding one: the field in schema.py, here, its extraction below and in _fastpath.c."""

    action: str | None = None
    ref: str | None = None
    ref_type: str | None = None
    push_size: int | None = None
    push_distinct_size: int | None = None
    number: int | None = None
    pr_merged: bool | None = None
    is_bot: bool | None = None
    # pull requests: payload.pull_request (PullRequest*Event, every era)
    pr_title: str | None = None
    pr_state: str | None = None
    pr_merged_at: int | None = None
    pr_closed_at: int | None = None
    pr_additions: int | None = None
    pr_deletions: int | None = None
    pr_changed_files: int | None = None
    pr_commits: int | None = None
    pr_comments: int | None = None
    pr_review_comments: int | None = None
    pr_head_ref: str | None = None
    pr_head_sha: str | None = None
    pr_base_ref: str | None = None
    pr_base_sha: str | None = None
    pr_author_association: str | None = None
    pr_merged_by: str | None = None
    # issues: payload.issue when it is an object (Events era; a Timeline `issue` is an id)
    issue_title: str | None = None
    issue_state: str | None = None
    issue_labels: str | None = None
    issue_comments: int | None = None
    issue_closed_at: int | None = None
    # comments: payload.comment, else the Timeline/backfill comment_id and commit
    comment_id: int | None = None
    comment_commit_id: str | None = None
    comment_path: str | None = None
    comment_position: int | None = None
    comment_line: int | None = None
    # the rest
    review_state: str | None = None
    release_tag: str | None = None
    release_name: str | None = None
    member_login: str | None = None
    fork_full_name: str | None = None
    wiki_pages: int | None = None


_BOT_SUFFIXES = ("[bot]", "-bot", "_bot")


def push_sizes(payload: dict[str, Any]) -> tuple[int | None, int | None]:
    """(size, distinct size) from `size`/`distinct_size`, else `commits`, else the old `shas`.

    `size` wins over len(commits): GitHub lists at most 20 commits of a bigger push.
    Old `shas` entries are [sha, email, message, name, distinct?]; the flag exists from ~2012 on,
    so 2011 pushes have a size but a null distinct size.
    """
    size = int64(payload.get("size"), "payload.size")
    distinct = int64(payload.get("distinct_size"), "payload.distinct_size")
    if size is None or distinct is None:
        commits = payload.get("commits")
        if isinstance(commits, list):
            if size is None:
                size = len(commits)
            if distinct is None and all(isinstance(c, dict) and "distinct" in c for c in commits):
                distinct = sum(1 for c in commits if c["distinct"] is True)
        shas = payload.get("shas")
        if isinstance(shas, list):
            if size is None:
                size = len(shas)
            if distinct is None and shas and all(isinstance(s, list) and len(s) > 4 for s in shas):
                distinct = sum(1 for s in shas if s[4] is True)
    return size, distinct


def _number(payload: dict[str, Any]) -> int | None:
    """payload.number (Timeline), else issue.number / pull_request.number (Events). A Timeline
    `issue` is an integer id, not an object: only objects are looked into."""
    number = int64(payload.get("number"), "payload.number")
    if number is not None:
        return number
    for key in ("issue", "pull_request"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            number = int64(inner.get("number"), f"payload.{key}.number")
            if number is not None:
                return number
    return None


TimeParser = Callable[[Any], int]


def _time(value: Any, name: str, parse: TimeParser) -> int | None:
    """A timestamp column (microseconds, UTC) from its JSON text; null stays null."""
    if value is None:
        return None
    if type(value) is not str:
        raise RowError(f"{name} is {kind(value)}, not a timestamp string")
    try:
        return parse(value)
    except TimestampError:
        raise RowError(f"{name} {scrub_text(value[:40])!r} is not a timestamp") from None


def _obj(payload: dict[str, Any], key: str) -> dict[str, Any] | None:
    """payload[key] when it is an object (other kinds hold no columns: a Timeline `issue` is an id)."""
    value = payload.get(key)
    return value if type(value) is dict else None


def _login(value: Any, name: str) -> str | None:
    return string(value.get("login"), name) if type(value) is dict else None


def _labels(issue: dict[str, Any]) -> str | None:
    """The names of an issue's labels as a JSON array (`["bug","help wanted"]`); null without a list."""
    labels = issue.get("labels")
    if type(labels) is not list:
        return None
    names = [
        scrub_value(string(label["name"], "payload.issue.labels[].name"))
        for label in labels
        if type(label) is dict and "name" in label
    ]
    return orjson.dumps(names).decode()


def _pull_request(pr: dict[str, Any], parse: TimeParser) -> dict[str, Any]:
    head, base = pr.get("head"), pr.get("base")
    head = head if type(head) is dict else {}
    base = base if type(base) is dict else {}
    return {
        "pr_title": string(pr.get("title"), "payload.pull_request.title"),
        "pr_state": string(pr.get("state"), "payload.pull_request.state"),
        "pr_merged_at": _time(pr.get("merged_at"), "payload.pull_request.merged_at", parse),
        "pr_closed_at": _time(pr.get("closed_at"), "payload.pull_request.closed_at", parse),
        "pr_additions": int64(pr.get("additions"), "payload.pull_request.additions"),
        "pr_deletions": int64(pr.get("deletions"), "payload.pull_request.deletions"),
        "pr_changed_files": int64(pr.get("changed_files"), "payload.pull_request.changed_files"),
        "pr_commits": int64(pr.get("commits"), "payload.pull_request.commits"),
        "pr_comments": int64(pr.get("comments"), "payload.pull_request.comments"),
        "pr_review_comments": int64(pr.get("review_comments"), "payload.pull_request.review_comments"),
        "pr_head_ref": string(head.get("ref"), "payload.pull_request.head.ref"),
        "pr_head_sha": string(head.get("sha"), "payload.pull_request.head.sha"),
        "pr_base_ref": string(base.get("ref"), "payload.pull_request.base.ref"),
        "pr_base_sha": string(base.get("sha"), "payload.pull_request.base.sha"),
        "pr_author_association": string(
            pr.get("author_association"), "payload.pull_request.author_association"
        ),
        "pr_merged_by": _login(pr.get("merged_by"), "payload.pull_request.merged_by.login"),
    }


def _issue(issue: dict[str, Any], parse: TimeParser) -> dict[str, Any]:
    return {
        "issue_title": string(issue.get("title"), "payload.issue.title"),
        "issue_state": string(issue.get("state"), "payload.issue.state"),
        "issue_labels": _labels(issue),
        "issue_comments": int64(issue.get("comments"), "payload.issue.comments"),
        "issue_closed_at": _time(issue.get("closed_at"), "payload.issue.closed_at", parse),
    }


def _comment(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    comment = _obj(payload, "comment")
    if comment is None:  # Timeline and backfill: ids only
        commit = payload.get("commit") if event_type == "CommitCommentEvent" else None
        return {
            "comment_id": int64(payload.get("comment_id"), "payload.comment_id"),
            "comment_commit_id": string(commit, "payload.commit"),
        }
    return {
        "comment_id": int64(comment.get("id"), "payload.comment.id"),
        "comment_commit_id": string(comment.get("commit_id"), "payload.comment.commit_id"),
        "comment_path": string(comment.get("path"), "payload.comment.path"),
        "comment_position": int64(comment.get("position"), "payload.comment.position"),
        "comment_line": int64(comment.get("line"), "payload.comment.line"),
    }


def _others(payload: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    review = _obj(payload, "review")
    if review is not None:
        found["review_state"] = string(review.get("state"), "payload.review.state")
    release = _obj(payload, "release")
    if release is not None:
        found["release_tag"] = string(release.get("tag_name"), "payload.release.tag_name")
        found["release_name"] = string(release.get("name"), "payload.release.name")
    member = payload.get("member")
    if type(member) is str:  # the 2011 backfill names the member by login
        found["member_login"] = member
    elif type(member) is dict:
        found["member_login"] = _login(member, "payload.member.login")
    forkee = _obj(payload, "forkee")
    if forkee is not None:
        found["fork_full_name"] = string(forkee.get("full_name"), "payload.forkee.full_name")
    pages = payload.get("pages")
    if type(pages) is list:
        found["wiki_pages"] = len(pages)
    return found


def curated(
    event_type: str, payload: Any, actor_login: str | None, parse_time: TimeParser = parse_timestamp
) -> Curated:
    """The curated columns of an event (`actor_login` already checked and scrubbed); `parse_time`
    reads the payload's timestamps (the mapper passes its cached parser)."""
    if not isinstance(payload, dict):
        return Curated(is_bot=is_bot(actor_login))
    get = payload.get
    action, ref, ref_type = get("action"), get("ref"), get("ref_type")
    size = distinct = number = merged = None
    if event_type == "PushEvent":
        size, distinct = push_sizes(payload)
    elif "number" in payload or "issue" in payload or "pull_request" in payload:
        number = _number(payload)
        if event_type == "PullRequestEvent":
            pr = get("pull_request")
            if isinstance(pr, dict):
                merged = boolean(pr.get("merged"), "payload.pull_request.merged")
    if type(action) is not str:
        action = string(action, "payload.action")
    if type(ref) is not str:
        ref = string(ref, "payload.ref")
    if type(ref_type) is not str:
        ref_type = string(ref_type, "payload.ref_type")
    rich: dict[str, Any] = {}
    pr = _obj(payload, "pull_request")
    if pr is not None:
        rich |= _pull_request(pr, parse_time)
    issue = _obj(payload, "issue")
    if issue is not None:
        rich |= _issue(issue, parse_time)
    if "comment" in payload or "comment_id" in payload or "commit" in payload:
        rich |= _comment(event_type, payload)
    rich |= _others(payload)
    texts = f"{action}{ref}{ref_type}"
    if "@" in texts or "%" in texts:  # rare: one test for the three values
        action, ref, ref_type = scrub_value(action), scrub_value(ref), scrub_value(ref_type)
    for name, value in rich.items():  # (label names are scrubbed one by one)
        if type(value) is str and name != "issue_labels" and ("@" in value or "%" in value):
            rich[name] = scrub_value(value)
    return Curated(
        action=action,
        ref=ref,
        ref_type=ref_type,
        push_size=size,
        push_distinct_size=distinct,
        number=number,
        pr_merged=merged,
        is_bot=is_bot(actor_login),
        **rich,
    )


def is_bot(login: str | None) -> bool | None:
    """Bot heuristic on the actor login, case-insensitive: GitHub Apps end in `[bot]`
    (`dependabot[bot]`); bot accounts by convention end in `-bot` or `_bot` (`renovate-bot`).
    A login merely containing "bot" (`abbott`, `robotics`) is not a bot. Null without an actor."""
    if login is None:
        return None
    return login.lower().endswith(_BOT_SUFFIXES)
