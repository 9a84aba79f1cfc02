"""`gharchive run`: the whole chain for a range of hours on one machine, through the local bus.

For each hour: publish its message (-> ingest -> raw finalize -> normalize -> curated finalize ->
load), then replay the finalize events of the hour's raw and curated objects. A replay is a no-op
for work already done (the stages are idempotent) and finishes work an earlier, interrupted run
left behind, so running a range twice changes nothing and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .. import layout
from ..hours import Hour, hour_range
from ..logs import log_stream
from ..storage.base import Storage, open_storage
from .bus import LOCAL_TOPIC, Delivery, Handler, LocalBus, local_settings
from .status import HourStatus, collect_status, hour_status


@dataclass(frozen=True)
class Home:
    """The local stand-in for the cloud: DIR/raw, DIR/curated (buckets), DIR/warehouse."""

    root: Path

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def curated_dir(self) -> Path:
        return self.root / "curated"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def buckets(self) -> tuple[Storage, Storage]:
        return open_storage(str(self.raw_dir)), open_storage(str(self.curated_dir))


@dataclass
class RunReport:
    hours: list[Hour]
    rows: list[HourStatus] = field(default_factory=list)
    failures: list[Delivery] = field(default_factory=list)
    log_file: Path | None = None

    @property
    def ok(self) -> bool:
        """No delivery failed for good (missing hours are an outcome, not a failure)."""
        return not self.failures


def run_hours(
    start: Hour,
    end: Hour,
    *,
    home: Path,
    source: str,
    on_hour: Callable[[HourStatus], None] | None = None,
    handlers: Mapping[str, Handler] | None = None,
) -> RunReport:
    """Run the chain for every hour from start to end (both included); logs go to HOME/logs."""
    where = Home(home)
    raw, curated = where.buckets()
    where.warehouse_dir.mkdir(parents=True, exist_ok=True)
    bus = LocalBus(raw, curated, settings=local_settings(raw, curated, source), handlers=handlers)
    hours = list(hour_range(start, end))
    report = RunReport(hours)
    with _log_file(where) as (log_path, _stream):
        report.log_file = log_path
        for hour in hours:
            bus.publish_hours(LOCAL_TOPIC, [hour])
            report.failures += [d for d in bus.drain() if not d.ok]
            report.failures += _replay(bus, raw, curated, hour)
            if on_hour is not None:
                on_hour(hour_status(raw, curated, hour))
    report.rows = collect_status(raw, curated, hours)
    return report


def _replay(bus: LocalBus, raw: Storage, curated: Storage, hour: Hour) -> list[Delivery]:
    failures: list[Delivery] = []
    for role, storage, name in (
        ("raw", raw, layout.raw_object(hour)),
        ("curated", curated, layout.curated_object(hour)),
    ):
        info = storage.stat(name)
        if info is not None:
            bus.announce(role, info)
            failures += [d for d in bus.drain() if not d.ok]
    return failures


@contextmanager
def _log_file(home: Home) -> Iterator[tuple[Path, TextIO]]:
    """One JSON-lines log per run (every stage's outcome for every hour), not the console."""
    home.logs_dir.mkdir(parents=True, exist_ok=True)
    path = home.logs_dir / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.jsonl"
    with path.open("w", encoding="utf-8") as fh, log_stream(fh):
        yield path, fh
