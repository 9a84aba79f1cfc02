"""The one outcome vocabulary of the pipeline: what a stage did to an hour.

Logs, the hour ledger and `gharchive status` all speak these values (they are `StrEnum`s, so the
ledger's JSON and the log lines hold the plain words). Each stage has its own enum because the same
word must never mean two things: a malformed Pub/Sub message is `IngestOutcome.MALFORMED`, while a
normalized hour with some bad lines is `NormalizeOutcome.NORMALIZED_WITH_REJECTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Stage(StrEnum):
    INGEST = "ingest"
    NORMALIZE = "normalize"
    LOAD = "load"


class Severity(StrEnum):
    """Cloud Logging severities the outcomes map to."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class IngestOutcome(StrEnum):
    STORED = "stored"
    ALREADY_PRESENT = "already_present"
    NOT_YET_PUBLISHED = "not_yet_published"  # retried: GH Archive has not published the hour yet
    MISSING = "missing"  # a 404 for an old hour: recorded, never retried
    CORRUPT = "corrupt"  # kept under quarantine/
    TRANSIENT = "transient"  # retried
    MALFORMED = "malformed"  # a message that can never succeed: logged once, acknowledged
    FANNED_OUT = "fanned_out"  # a range message: one message per hour was published
    REWRITTEN = "rewritten"  # renormalize: the raw object stored again in place, to be normalized anew


class NormalizeOutcome(StrEnum):
    NORMALIZED = "normalized"
    NORMALIZED_WITH_REJECTS = "rejected"  # the word the ledger has always used; see module doc
    ALREADY_DONE = "already_done"
    SUPERSEDED = "superseded"  # a newer raw generation exists
    IGNORED = "ignored"  # not an hour object (ledger, quarantine, foreign names)
    FAILED = "failed"  # the normalizer refused the hour (corrupt, empty, too many rejects)


class LoadOutcome(StrEnum):
    DEFERRED = "deferred"  # backfill: the hour waits for its day's batch
    SUBMITTED = "submitted"  # a Dataproc batch will load it
    ALREADY_EXISTS = "already_exists"  # the batch was submitted before (redelivery)
    LOADED = "loaded"  # rows are in the warehouse (recorded by the load job itself)
    ALREADY_DONE = "already_done"
    SUPERSEDED = "superseded"  # a newer curated generation exists
    IGNORED = "ignored"
    MISSING = "missing"  # no curated file to load
    FAILED = "failed"


Outcome = IngestOutcome | NormalizeOutcome | LoadOutcome

#: Each stage's vocabulary: an outcome word is only meaningful together with its stage.
OUTCOMES: dict[Stage, type[IngestOutcome] | type[NormalizeOutcome] | type[LoadOutcome]] = {
    Stage.INGEST: IngestOutcome,
    Stage.NORMALIZE: NormalizeOutcome,
    Stage.LOAD: LoadOutcome,
}


def parse_outcome(stage: Stage | str, value: str) -> Outcome:
    """The typed outcome `value` names at `stage` (ValueError for a word that stage never says)."""
    kind = OUTCOMES[Stage(stage)]
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise ValueError(f"{value!r} is not a {Stage(stage).value} outcome (one of {known})") from None


_WARNING = {
    IngestOutcome.MISSING,
    IngestOutcome.NOT_YET_PUBLISHED,
    IngestOutcome.TRANSIENT,
    NormalizeOutcome.NORMALIZED_WITH_REJECTS,
    LoadOutcome.MISSING,
}
_ERROR = {IngestOutcome.CORRUPT, IngestOutcome.MALFORMED, NormalizeOutcome.FAILED, LoadOutcome.FAILED}


def severity(outcome: Outcome) -> Severity:
    if outcome in _ERROR:
        return Severity.ERROR
    if outcome in _WARNING:
        return Severity.WARNING
    return Severity.INFO


#: Load outcomes meaning "this curated generation is (being) loaded".
LOAD_DONE: frozenset[LoadOutcome] = frozenset(
    {LoadOutcome.LOADED, LoadOutcome.SUBMITTED, LoadOutcome.ALREADY_EXISTS}
)


# ---- detail keys: what outcomes carry that readers read back (ledger.py); one spelling each ----
#: The curated object generation an entry is about (normalize wrote it, a load read it).
CURATED_GENERATION = "curated_generation"
#: The raw object generation an entry is about (also the curated object's metadata key).
RAW_GENERATION = "raw_generation"
#: The batch (Dataproc, or the local day loader's run) that loads or loaded the hour.
BATCH_ID = "batch_id"
#: The UTC day a load entry is about, and the days a by-day request rebuilt.
DAY = "day"
DAYS = "days"
SECONDS = "seconds"
EVENTS = "events"
REJECTS = "rejects"
#: The pipeline version that wrote a curated object (its metadata, and the normalize entry's detail).
PIPELINE_VERSION_KEY = "pipeline_version"
#: Raw and curated metadata, and ingest message field: re-processing asked for, toward this version.
RENORMALIZE = "renormalize"
#: What a curated object without PIPELINE_VERSION_KEY was written by: the only version before the
#: curated objects recorded theirs.
LEGACY_VERSION = "0.1.0"


def pipeline_version() -> str:
    """The version this process's normalizer writes (read at call time: one place, the package)."""
    from . import PIPELINE_VERSION

    return PIPELINE_VERSION


def written_version(metadata: Mapping[str, str]) -> str:
    """The pipeline version a curated object's metadata says wrote it."""
    return metadata.get(PIPELINE_VERSION_KEY) or LEGACY_VERSION


#: Why an entry went wrong, in the order a reader looks for one.
REASON_KEYS = ("error", "detail", "reason")
