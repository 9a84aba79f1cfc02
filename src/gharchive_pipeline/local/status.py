"""Per-hour status of a home: what the ledgers say happened, checked against the buckets.

The ledger (raw bucket) is the history; the curated object's metadata is the truth about what is
normalized now. A load counts only if it was for the curated generation that exists now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .. import layout
from ..hours import Hour
from ..ledger import LedgerEntry, latest, ledger_hours, read_ledger
from ..stages import RAW_GENERATION
from ..stages.outcome import LOAD_DONE, IngestOutcome, LoadOutcome, NormalizeOutcome, Outcome, Stage
from ..storage.base import Storage

#: What the raw column says for ingest outcomes.
_RAW_STATE: dict[Outcome, str] = {IngestOutcome.STORED: "stored", IngestOutcome.ALREADY_PRESENT: "stored"}
_NORMALIZED = (NormalizeOutcome.NORMALIZED, NormalizeOutcome.NORMALIZED_WITH_REJECTS)


@dataclass(frozen=True)
class HourStatus:
    hour: Hour
    raw: str  # stored / missing / corrupt / not_yet_published / transient / - (never asked)
    events: int | None
    rejects: int | None
    normalized: str  # normalized / rejected (with rejects) / failed / stale / pending / -
    loaded: str  # loaded / submitted / recorded / failed / stale / -
    ingest_seconds: float | None = None
    normalize_seconds: float | None = None
    load_seconds: float | None = None
    note: str = ""
    batch: str = ""  # the batch that loaded (or will load) the current curated version

    @property
    def complete(self) -> bool:
        """Raw stored, normalized from the current raw object and loaded."""
        return self.raw == "stored" and self.normalized in _NORMALIZED and self.loaded in LOAD_DONE

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hour": self.hour.key}


def hour_status(raw: Storage, curated: Storage, hour: Hour) -> HourStatus:
    entries = read_ledger(raw, hour)
    raw_info = raw.stat(layout.raw_object(hour))
    cur_info = curated.stat(layout.curated_object(hour))
    ingest, norm, load = (latest(entries, s) for s in (Stage.INGEST, Stage.NORMALIZE, Stage.LOAD))
    notes: list[str] = []

    if raw_info is not None:
        raw_state = "stored"
    elif ingest is not None:
        raw_state = _RAW_STATE.get(ingest.outcome, ingest.outcome.value)
        notes.append(_note(ingest))
    else:
        raw_state = "-"

    events = rejects = None
    if cur_info is not None:
        events = _int(cur_info.metadata.get("events"))
        rejects = _int(cur_info.metadata.get("rejects"))
        from_gen = _int(cur_info.metadata.get(RAW_GENERATION))
        fresh = raw_info is None or from_gen == raw_info.generation
        normalized = _NORMALIZED[bool(rejects)].value if fresh else "stale"
        if norm is not None and norm.outcome is NormalizeOutcome.FAILED:
            notes.append(_note(norm))
    elif norm is not None and norm.outcome is NormalizeOutcome.FAILED:
        normalized = NormalizeOutcome.FAILED.value
        notes.append(_note(norm))
    else:
        normalized = "pending" if raw_info is not None else "-"

    if cur_info is not None:  # a `loaded` for the current version wins over later re-deliveries
        load = _loaded_now(entries, cur_info.generation) or load
    loaded = "-"
    if load is not None:
        loaded = load.outcome.value
        if (
            load.outcome in LOAD_DONE
            and cur_info is not None
            and load.details.get("curated_generation") != cur_info.generation
        ):
            loaded = "stale"
        if load.outcome not in LOAD_DONE:
            notes.append(_note(load))
    elif cur_info is not None:
        loaded = "pending"

    return HourStatus(
        hour=hour,
        raw=raw_state,
        events=events,
        rejects=rejects,
        normalized=normalized,
        loaded=loaded,
        ingest_seconds=_seconds(ingest),
        normalize_seconds=_seconds(norm),
        load_seconds=_seconds(load),
        note="; ".join(n for n in notes if n),
        batch=_batch(entries, cur_info.generation if cur_info is not None else None),
    )


def _loaded_now(entries: list[LedgerEntry], generation: int) -> LedgerEntry | None:
    for entry in reversed(entries):
        if (
            entry.stage is Stage.LOAD
            and entry.outcome is LoadOutcome.LOADED
            and entry.details.get("curated_generation") == generation
        ):
            return entry
    return None


def _batch(entries: list[LedgerEntry], generation: int | None) -> str:
    """The batch the ledger names for the current curated generation: the one that loaded it, else
    the newest one submitted (or found already submitted) for it."""
    named = [
        e
        for e in entries
        if e.stage is Stage.LOAD
        and e.details.get("batch_id")
        and (generation is None or e.details.get("curated_generation") == generation)
    ]
    pick = [e for e in named if e.outcome is LoadOutcome.LOADED] or named
    return str(pick[-1].details["batch_id"]) if pick else ""


def known_hours(raw: Storage, curated: Storage) -> list[Hour]:
    """Every hour a home knows anything about: ledgers, raw objects, curated objects."""
    hours = set(ledger_hours(raw))
    hours.update(h for i in raw.list(layout.RAW_PREFIX) if (h := layout.hour_of_raw_object(i.name)))
    hours.update(
        h for i in curated.list(layout.CURATED_PREFIX) if (h := layout.hour_of_curated_object(i.name))
    )
    return sorted(hours)


def collect_status(raw: Storage, curated: Storage, hours: Iterable[Hour] | None = None) -> list[HourStatus]:
    return [hour_status(raw, curated, h) for h in (known_hours(raw, curated) if hours is None else hours)]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _seconds(entry: LedgerEntry | None) -> float | None:
    if entry is None:
        return None
    try:
        return float(entry.details["seconds"])
    except (KeyError, TypeError, ValueError):
        return None


def _note(entry: LedgerEntry) -> str:
    detail = entry.details.get("error") or entry.details.get("detail") or entry.details.get("reason") or ""
    return f"{entry.stage} {entry.outcome}: {detail}" if detail else ""


# ---- rendering ------------------------------------------------------------------------------------
def render_table(rows: list[HourStatus], *, title: str = "GH Archive hours") -> Any:
    """A rich Table of the rows (what `gharchive run` and `gharchive status` print)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for column, justify in (
        ("hour", "left"),
        ("raw", "left"),
        ("events", "right"),
        ("rejects", "right"),
        ("normalized", "left"),
        ("loaded", "left"),
        ("ingest s", "right"),
        ("norm s", "right"),
        ("load s", "right"),
        ("batch", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("note", overflow="fold", min_width=20)
    for r in rows:
        table.add_row(
            r.hour.key,
            _styled(r.raw),
            _num(r.events),
            _num(r.rejects),
            _styled(r.normalized),
            _styled(r.loaded),
            _secs(r.ingest_seconds),
            _secs(r.normalize_seconds),
            _secs(r.load_seconds),
            escape(r.batch) or "-",
            escape(r.note),
        )
    return table


_GOOD = {"stored", "normalized", "loaded", "submitted", "already_exists"}
_BAD = {"missing", "corrupt", "failed", "transient"}


def _styled(value: str) -> str:
    if value in _GOOD:
        return f"[green]{value}[/green]"
    if value in _BAD:
        return f"[red]{value}[/red]"
    return f"[yellow]{value}[/yellow]" if value not in ("-",) else value


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
