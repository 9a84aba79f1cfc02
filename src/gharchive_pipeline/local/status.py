"""Per-hour status: what the ledgers say happened, checked against the buckets.

The one reading of an hour is `ledger.hour_state`; this module gathers its inputs (listing each day's
ledgers, raw and curated objects, reading the ledgers in parallel threads) and renders the rows.
It serves `gharchive status` on a home and on deployed buckets (`--raw`, optionally `--curated`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from .. import layout
from ..hours import Hour, HourError
from ..ledger import (
    NORMALIZED,
    HourHistory,
    HourState,
    LedgerListing,
    hour_state,
    list_ledgers,
    read_history,
)
from ..outcome import LOAD_DONE, IngestOutcome
from ..storage.base import ObjectInfo, Storage, object_url

#: Ledgers read at once (one request each): a month (744 ledgers) from a bucket in seconds. Below the
#: google-cloud-storage client's connection pool (10): more threads would only queue for connections.
THREADS = 8


@dataclass(frozen=True)
class HourStatus:
    """One row of `gharchive status`: `ledger.HourState` flattened for printing and JSON."""

    hour: Hour
    raw: str  # stored / missing / corrupt / not_yet_published / transient / - (never asked)
    events: int | None
    rejects: int | None
    normalized: str  # normalized / rejected (with rejects) / failed / stale / pending / deleted / -
    loaded: str  # loaded / submitted / deferred / failed / stale / pending / -
    ingest_seconds: float | None = None
    normalize_seconds: float | None = None
    load_seconds: float | None = None
    note: str = ""
    batch: str = ""  # the batch that loaded (or will load) the current curated version
    version: str = ""  # the pipeline version that normalized the current curated version

    @property
    def complete(self) -> bool:
        """Raw stored, normalized from the current raw object and loaded."""
        return self.raw == IngestOutcome.STORED and self.normalized in NORMALIZED and self.loaded in LOAD_DONE

    @classmethod
    def of(cls, state: HourState) -> HourStatus:
        ingest, norm, load = state.ingest, state.normalize, state.load
        return cls(
            hour=state.hour,
            raw=str(state.raw),
            events=state.curated.events if state.curated else None,
            rejects=state.curated.rejects if state.curated else None,
            normalized=str(state.normalized),
            loaded=str(state.loaded),
            ingest_seconds=ingest.seconds if ingest else None,
            normalize_seconds=norm.seconds if norm else None,
            load_seconds=load.seconds if load else None,
            note="; ".join(state.notes),
            batch=state.batch,
            version=state.curated.pipeline_version if state.curated else "",
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hour": self.hour.key}


def hour_status(raw: Storage, curated: Storage | None, hour: Hour) -> HourStatus:
    """One hour's row, from stat calls (the runner and the follower ask hour by hour)."""
    cur_info = curated.stat(layout.curated_object(hour)) if curated is not None else None
    state = hour_state(
        hour,
        read_history(raw, hour),
        raw.stat(layout.raw_object(hour)),
        cur_info,
        curated_known=curated is not None,
    )
    return HourStatus.of(state)


@dataclass
class Snapshot:
    """What listings of the buckets found: the hours' ledgers, raw and curated objects."""

    ledgers: dict[Hour, ObjectInfo]
    raw: dict[Hour, ObjectInfo]
    curated: dict[Hour, ObjectInfo] | None  # None: the curated bucket was not read
    strays: list[str]

    @property
    def hours(self) -> list[Hour]:
        return sorted({*self.ledgers, *self.raw, *(self.curated or {})})


def _day_prefixes(day: date) -> tuple[str, str, str]:
    return (
        f"{layout.LEDGER_PREFIX}{day:%Y/%m/%d}/",
        f"{layout.RAW_PREFIX}{day:%Y/%m/%d}/",
        layout.curated_day_prefix(day),
    )


def snapshot(
    raw: Storage, curated: Storage | None, days: Iterable[date] | None = None, *, threads: int | None = None
) -> Snapshot:
    """List the buckets (whole, or day by day for `days`, days in parallel): a few calls per day
    instead of three per hour."""
    if days is None:
        prefixes = [(layout.LEDGER_PREFIX, layout.RAW_PREFIX, layout.CURATED_PREFIX)]
    else:
        prefixes = [_day_prefixes(d) for d in days]
    snap = Snapshot({}, {}, None if curated is None else {}, [])

    def one(p: tuple[str, str, str]) -> tuple[LedgerListing, list[ObjectInfo], list[ObjectInfo]]:
        return (
            list_ledgers(raw, p[0]),
            list(raw.list(p[1])),
            list(curated.list(p[2])) if curated is not None else [],
        )

    with ThreadPoolExecutor(threads or THREADS) as pool:
        for listing, raws, cur in pool.map(one, prefixes):
            snap.ledgers.update(listing.ledgers)
            snap.strays.extend(object_url(raw.url, name) for name in listing.strays)
            for info in raws:
                if (hour := _hour_of(layout.hour_of_raw_object, raw, info, snap.strays)) is not None:
                    snap.raw[hour] = info
            for info in cur:
                if (hour := _hour_of(layout.hour_of_curated_object, curated, info, snap.strays)) is not None:
                    snap.curated[hour] = info  # type: ignore[index]
    return snap


def known_hours(raw: Storage, curated: Storage) -> list[Hour]:
    """Every hour a home knows anything about: ledgers, raw objects, curated objects."""
    return snapshot(raw, curated).hours


@dataclass(frozen=True)
class StatusReport:
    rows: list[HourStatus]
    #: Objects named like an hour's (ledger, raw, curated) that name no real hour: ignored, and shown.
    strays: list[str]


def status_report(
    raw: Storage,
    curated: Storage | None,
    hours: Iterable[Hour] | None = None,
    *,
    threads: int | None = None,
) -> StatusReport:
    """A row for each hour (those given, or every hour the buckets know), ledgers read in parallel.

    `curated=None`: from the raw bucket alone (ledgers and raw objects; the ledger's newest
    normalized version stands in for the curated object)."""
    wanted = None if hours is None else sorted(set(hours))
    days = None if wanted is None else sorted({h.start.date() for h in wanted})
    snap = snapshot(raw, curated, days, threads=threads)

    def row(hour: Hour) -> HourStatus:
        history = read_history(raw, hour, listed=True) if hour in snap.ledgers else HourHistory()
        cur = snap.curated.get(hour) if snap.curated is not None else None
        state = hour_state(hour, history, snap.raw.get(hour), cur, curated_known=snap.curated is not None)
        return HourStatus.of(state)

    with ThreadPoolExecutor(threads or THREADS) as pool:
        rows = list(pool.map(row, snap.hours if wanted is None else wanted))
    return StatusReport(rows, sorted(snap.strays))


def _hour_of(
    parse: Callable[[str], Hour | None], storage: Storage | None, info: ObjectInfo, strays: list[str]
) -> Hour | None:
    """The hour an object holds; a name shaped like an hour's that names no real hour is a stray."""
    try:
        return parse(info.name)
    except HourError:
        strays.append(object_url(storage.url if storage is not None else "", info.name))
        return None


def collect_status(
    raw: Storage, curated: Storage | None, hours: Iterable[Hour] | None = None
) -> list[HourStatus]:
    return status_report(raw, curated, hours).rows


# ---- rendering ------------------------------------------------------------------------------------
def render_table(rows: list[HourStatus], *, title: str = "GH Archive hours") -> Any:
    """A rich Table of the rows (what `gharchive run` and `gharchive status` print)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))  # a home or bucket name may hold markup: `x[/]`
    for column, justify in (
        ("hour", "left"),
        ("raw", "left"),
        ("events", "right"),
        ("rejects", "right"),
        ("normalized", "left"),
        ("version", "left"),
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
            escape(r.version) or "-",
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
