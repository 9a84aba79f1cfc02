"""The three GH Archive formats and the mapping of one raw event to one row (pure, per line).

- backfill (2011 .. early 2012): Events-like `actor`/`repo` objects with `api.github.dev` URLs,
  PushEvent `payload.shas` ([sha, email, message, name, distinct?]) or `payload.commits`;
- timeline (2012 .. 2014): `actor` is a login string (null for anonymous gists), `actor_attributes`,
  a `repository` object (repo_name = owner/name), `url`, no `id`, created_at with a US-Pacific offset;
- events (2015 on): `id, type, actor{}, repo{}, org{}, payload, public, created_at`.

The era is decided per line, since files can mix formats. The raw dict is sanitized IN PLACE (e-mail
fields hashed) rather than copied, which keeps the hot path cheap.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .curated import Curated, curated
from .errors import RowError
from .fields import INT64_MAX as _MAX
from .fields import INT64_MIN as _MIN
from .fields import int64, kind, obj, string
from .ids import derived_id
from .numbers import dumps
from .pii import EmailHasher, needs_scrub, scrub, scrub_value
from .timestamps import BIGQUERY_RANGE, TimestampError, TimestampParser, describe_range

BACKFILL, TIMELINE, EVENTS = "backfill", "timeline", "events"

#: top-level fields that become columns; everything else goes to `other`
_EVENTS_MAPPED = frozenset({"id", "type", "public", "created_at", "actor", "repo", "org", "payload"})
_TIMELINE_MAPPED = frozenset({"id", "type", "public", "created_at", "actor", "payload"})

#: the only event types whose payloads have e-mail FIELDS (commits/shas, FollowEvent target)
_EMAIL_FIELD_TYPES = frozenset({"PushEvent", "FollowEvent"})
#: `git@github.com:` of ssh_url fields: an '@' that is not an e-mail (scrub skips it too)
_SSH_URL = b'"git@github.com:'


class Envelope(NamedTuple):
    """The envelope columns of one row: exactly schema.names("envelope"), in table order (writer.py
    checks). `created_at` in microseconds; `payload`/`other` JSON text as bytes."""

    id: str
    type: str
    public: bool | None
    created_at: int
    actor_id: int | None
    actor_login: str | None
    repo_id: int | None
    repo_name: str | None
    org_id: int | None
    org_login: str | None
    payload: bytes | None
    other: bytes | None


class Row(NamedTuple):
    """One mapped event: its envelope and curated columns, and the era it was read as (the lineage
    column `schema_era`; the other lineage columns are the run's constants)."""

    envelope: Envelope
    curated: Curated
    schema_era: str

    def columns(self) -> dict[str, Any]:
        """Column name -> value (for tests and messages; the writer goes column by column)."""
        return {**self.envelope._asdict(), **self.curated._asdict(), "schema_era": self.schema_era}


__all__ = ["BACKFILL", "EVENTS", "TIMELINE", "Envelope", "EventMapper", "Row", "RowError", "detect_era"]


def detect_era(event: dict[str, Any]) -> str:
    actor = event.get("actor")
    if "repository" in event or actor is None or isinstance(actor, str):
        return TIMELINE
    repo = event.get("repo")
    if isinstance(repo, dict):
        url = repo.get("url")
        if isinstance(url, str) and "api.github.dev" in url:
            return BACKFILL
    return EVENTS


def _repo_name_from_url(url: Any) -> str | None:
    if isinstance(url, str) and url.startswith("https://github.com/"):
        parts = url[len("https://github.com/") :].split("/")
        if len(parts) >= 2 and parts[0] and parts[1]:
            return f"{parts[0]}/{parts[1]}"
    return None


class EventMapper:
    """Maps parsed events to rows; holds the per-run caches (e-mail hashes, timestamps).

    `window`: the (first, last) created_at in microseconds a row may have (timestamps.py says why);
    by default what BigQuery's TIMESTAMP holds.
    """

    def __init__(self, window: tuple[int, int] = BIGQUERY_RANGE) -> None:
        self.hash_email = EmailHasher()
        self.parse_time = TimestampParser()
        self._times = self.parse_time.cache  # read directly on the hot path
        self.window = window

    # ---- sanitizing ----------------------------------------------------------------------------
    def sanitize_payload(self, payload: dict[str, Any]) -> int:
        """Hash the e-mail FIELDS of a payload in place; returns how many '@' the hashed values hold.

        Free text is scrubbed after dumping, but only when the dump holds more '@' than these
        fields account for (the common PushEvent has none elsewhere), which keeps the hot path cheap.
        """
        hash_email = self.hash_email
        known = 0
        commits = payload.get("commits")
        if isinstance(commits, list):
            for commit in commits:
                if isinstance(commit, dict):
                    author = commit.get("author")
                    if isinstance(author, dict):
                        email = author.get("email")
                        if isinstance(email, str):
                            author["email"] = hashed = hash_email(email)
                            known += "@" in hashed
        shas = payload.get("shas")
        if isinstance(shas, list):
            for entry in shas:
                if isinstance(entry, list) and len(entry) > 1 and isinstance(entry[1], str):
                    entry[1] = hashed = hash_email(entry[1])
                    known += "@" in hashed
        target = payload.get("target")
        if isinstance(target, dict):
            email = target.get("email")
            if isinstance(email, str):
                target["email"] = hashed = hash_email(email)
                known += "@" in hashed
        return known

    def _dump_payload(self, event_type: str, payload: Any) -> bytes | None:
        if payload is None:
            return None
        known = 0
        if event_type in _EMAIL_FIELD_TYPES and isinstance(payload, dict):
            known = self.sanitize_payload(payload)
        data = dumps(payload)
        ats = data.count(b"@")
        if (ats > known and ats - data.count(_SSH_URL) > known) or (b"%" in data and b"%40" in data):
            data = scrub(data)
        return data

    def _dump_other(self, event: dict[str, Any], mapped: frozenset[str]) -> bytes | None:
        extra = {k: v for k, v in event.items() if k not in mapped}
        if not extra:
            return None
        attributes = extra.get("actor_attributes")
        if isinstance(attributes, dict):
            email = attributes.get("email")
            if isinstance(email, str):
                attributes["email"] = self.hash_email(email)
        data = dumps(extra)
        return scrub(data) if needs_scrub(data) else data

    # ---- mapping -------------------------------------------------------------------------------
    def map(self, event: dict[str, Any]) -> Row:
        """One parsed event -> one row; raises RowError for an event that cannot be a row."""
        get = event.get
        event_type = get("type")
        if not isinstance(event_type, str) or not event_type:
            raise RowError("missing or non-string 'type'")
        created_at = get("created_at")
        created = self._times.get(created_at) if type(created_at) is str else None
        if created is None:
            if created_at is None:
                raise RowError("missing 'created_at'")
            try:
                created = self.parse_time(created_at)
            except TimestampError as exc:
                raise RowError(str(exc)) from None
        first, last = self.window
        if not first <= created <= last:
            raise RowError(describe_range(created_at, created, self.window))
        actor = get("actor")
        payload = get("payload")

        if isinstance(actor, dict) and "repository" not in event:
            repo, org = obj(get("repo"), "repo"), obj(get("org"), "org")
            actor_id, actor_login = actor.get("id"), actor.get("login")
            repo_id = repo_name = org_id = org_login = None
            era = EVENTS
            if repo is not None:
                repo_id, repo_name = repo.get("id"), repo.get("name")
                url = repo.get("url")
                if isinstance(url, str) and "api.github.dev" in url:
                    era = BACKFILL
            if org is not None:
                org_id, org_login = org.get("id"), org.get("login")
            mapped = _EVENTS_MAPPED
        else:  # Timeline: actor is a login string (null for anonymous gists), `repository` object
            era = TIMELINE
            actor_id, actor_login = None, actor if type(actor) is not dict else None
            if actor_login is not None and type(actor_login) is not str:
                raise RowError(f"actor is {kind(actor_login)}, not an object, a login or null")
            repo_id = repo_name = org_id = org_login = None
            repository = obj(get("repository"), "repository")
            if repository is not None:
                repo_id = repository.get("id")
                owner, name = repository.get("owner"), repository.get("name")
                if isinstance(owner, str) and isinstance(name, str):
                    repo_name = f"{owner}/{name}"
                else:
                    repo_name = _repo_name_from_url(repository.get("url"))
                org_login = repository.get("organization")
            mapped = _TIMELINE_MAPPED

        payload_json = self._dump_payload(event_type, payload)
        other_json = self._dump_other(event, mapped) if not event.keys() <= mapped else None

        raw_id = get("id")
        if type(raw_id) is str and raw_id:
            event_id = raw_id
        elif type(raw_id) is int:
            event_id = str(raw_id)
        elif raw_id is None or raw_id == "":
            event_id = derived_id(event)  # after sanitizing: both servings of an hour agree
        else:
            raise RowError(f"id is {kind(raw_id)}, not a string or an integer")
        if type(actor_login) is not str:
            actor_login = string(actor_login, "actor.login")
        if type(repo_name) is not str:
            repo_name = string(repo_name, "repo.name")
        if type(org_login) is not str:
            org_login = string(org_login, "org.login")
        column_type = event_type
        texts = f"{event_id}{event_type}{actor_login}{repo_name}{org_login}"
        if "@" in texts or "%" in texts:  # rare: one test for the five values
            event_id, column_type = scrub_value(event_id) or event_id, scrub_value(event_type) or event_type
            actor_login, repo_name, org_login = map(scrub_value, (actor_login, repo_name, org_login))
        public = get("public")
        if public is not None and type(public) is not bool:
            raise RowError(f"public is {kind(public)}, not true or false")
        envelope = Envelope(
            id=event_id,
            type=column_type,
            public=public,
            created_at=created,
            actor_id=actor_id
            if type(actor_id) is int and _MIN <= actor_id <= _MAX
            else int64(actor_id, "actor.id"),
            actor_login=actor_login,
            repo_id=repo_id
            if type(repo_id) is int and _MIN <= repo_id <= _MAX
            else int64(repo_id, "repo.id"),
            repo_name=repo_name,
            org_id=org_id if type(org_id) is int and _MIN <= org_id <= _MAX else int64(org_id, "org.id"),
            org_login=org_login,
            payload=payload_json,
            other=other_json,
        )
        return Row(envelope, curated(event_type, payload, actor_login, self.parse_time), era)
