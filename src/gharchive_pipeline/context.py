"""The pipeline's dependencies, built once: buckets, publisher, loader, clock, download policy.

A stage never opens a bucket or picks a loader itself; it is handed a `Context`. There are exactly
two ways to make one:

- `cloud_context(settings)`: what a Cloud Function runs on (buckets from GHARCHIVE_* settings, the
  Pub/Sub publisher, a Dataproc submitter as the loader). Everything is opened on first use, so a
  function touches only what its events need, and a missing setting is one `MissingSetting` error
  naming the variable. Tests (and `gharchive ingest --raw gs://...`) pass what they replace.
- `local_context(home)`: the embedded pipeline in a home directory (`layout.Home`): HOME/raw and
  HOME/curated as buckets, the local bus as publisher, and a loader that leaves the loads to the
  local runner (or, `load_now=True`, rebuilds each asked-for day here).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from .download import RetryPolicy
from .errors import ConfigError
from .hours import DEFAULT_BASE_URL
from .layout import Home
from .load.loader import Loader
from .publish import Publisher
from .settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET, ENV_TOPIC, Settings
from .storage.base import Storage, open_storage

__all__ = [
    "LOCAL_TOPIC",
    "Clock",
    "Context",
    "MissingSetting",
    "NoProgress",
    "Progress",
    "SystemClock",
    "cloud_context",
    "local_context",
]

T = TypeVar("T")

#: The topic name the local bus answers to (no Pub/Sub locally: any name would do).
LOCAL_TOPIC = "projects/local/topics/gharchive-hours"


class MissingSetting(ConfigError, RuntimeError):
    """A dependency the event needs has no setting (names the environment variable): a ConfigError,
    so the event is redelivered until the deployment is fixed, and the CLI prints one line."""


class Clock(Protocol):
    """What time it is, and how to wait: tests pass a fast one."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock (UTC) and `time.sleep`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Progress(Protocol):
    """Told as work finishes (progress bars, the follower); keeps nothing it is told."""

    def hour_done(self, status: Any) -> None: ...

    def day_done(self, result: Any) -> None: ...


class NoProgress:
    def hour_done(self, status: Any) -> None:
        pass

    def day_done(self, result: Any) -> None:
        pass


class _Lazy(Generic[T]):
    """A dependency opened on first use and kept (shared by copies of a context)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._made = False

    def get(self) -> T:
        if not self._made:
            self._value, self._made = self._factory(), True
        return self._value  # type: ignore[return-value]

    @classmethod
    def of(cls, value: T) -> _Lazy[T]:
        lazy = cls(lambda: value)
        lazy._value, lazy._made = value, True
        return lazy


class _Dependency(Generic[T]):
    """A context's dependency, read from its `_<name>` field: opened on first use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = f"_{name}"

    def __get__(self, ctx: object, owner: type | None = None) -> T:
        lazy: _Lazy[T] = getattr(ctx, self.field)
        return lazy.get()


@dataclass(frozen=True)
class Context:
    """Everything a stage needs besides its event (see module docstring)."""

    settings: Settings
    _raw: _Lazy[Storage]
    _curated: _Lazy[Storage]
    _publisher: _Lazy[Publisher]
    _loader: _Lazy[Loader]
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    #: The download's retries (None: the downloader's default, or GHARCHIVE_DOWNLOAD_DEADLINE_SECONDS).
    download: RetryPolicy | None = None
    progress: Progress = dataclasses.field(default_factory=NoProgress)

    raw = _Dependency[Storage]()  # GH Archive hours, quarantine, and every hour's ledger
    curated = _Dependency[Storage]()  # typed parquet per hour, rejects, day markers, day locks
    publisher = _Dependency[Publisher]()  # fans out one message per hour of a range
    loader = _Dependency[Loader]()  # gets curated hour versions loaded (or queued)

    @property
    def ledgers(self) -> Storage | None:
        """The raw bucket when one is configured (it holds the ledgers), else None: log only."""
        return self.raw if self.settings.raw_bucket else None

    def now(self) -> datetime:
        return self.clock.now()

    def replace(self, **changes: object) -> Context:
        """A copy with some dependencies replaced (publisher, loader, clock, download)."""
        lazies = {f"_{k}": _Lazy.of(v) for k, v in changes.items() if f"_{k}" in _LAZY}
        plain = {k: v for k, v in changes.items() if f"_{k}" not in _LAZY}
        return dataclasses.replace(self, **lazies, **plain)  # type: ignore[arg-type]


_LAZY = frozenset({"_raw", "_curated", "_publisher", "_loader"})


def _bucket(url: str, env: str) -> Callable[[], Storage]:
    def open_it() -> Storage:
        if not url:
            raise MissingSetting(f"{env} is not set: no bucket to open")
        return _open_bucket(url)

    return open_it


@functools.cache
def _open_bucket(url: str) -> Storage:
    """One client per bucket per process (a function instance serves many events)."""
    return open_storage(url)


@functools.cache
def _pubsub() -> Publisher:
    from .publish import PubSubPublisher

    return PubSubPublisher()


@functools.cache
def _submitter(settings: Settings) -> Loader:
    """One submitter (and Dataproc client) per settings per instance. Missing Dataproc settings
    raise DataprocConfigError naming them (the event is retried until they are fixed)."""
    from .load.dataproc import DataprocSubmitter

    return DataprocSubmitter(settings)


def cloud_context(
    settings: Settings,
    *,
    raw: Storage | None = None,
    curated: Storage | None = None,
    publisher: Publisher | None = None,
    loader: Loader | None = None,
    clock: Clock | None = None,
    download: RetryPolicy | None = None,
) -> Context:
    """The context a Cloud Function runs on, from its settings; given dependencies replace the
    ones the settings would open (their URLs stand in for unset bucket settings)."""
    settings = dataclasses.replace(
        settings,
        raw_bucket=settings.raw_bucket or (raw.url if raw is not None else ""),
        curated_bucket=settings.curated_bucket or (curated.url if curated is not None else ""),
    )
    deadline = settings.download_deadline_seconds
    return Context(
        settings,
        _Lazy.of(raw) if raw is not None else _Lazy(_bucket(settings.raw_bucket, ENV_RAW_BUCKET)),
        _Lazy.of(curated)
        if curated is not None
        else _Lazy(_bucket(settings.curated_bucket, ENV_CURATED_BUCKET)),
        _Lazy.of(publisher) if publisher is not None else _Lazy(_pubsub),
        _Lazy.of(loader) if loader is not None else _Lazy(lambda: _submitter(settings)),
        clock or SystemClock(),
        download or (RetryPolicy(deadline=deadline) if deadline else None),
    )


def local_context(
    home: Path | Home,
    *,
    source: str = DEFAULT_BASE_URL,
    publisher: Publisher | None = None,
    load_now: bool = False,
    clock: Clock | None = None,
    download: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> Context:
    """The embedded pipeline of `home`. Its loads: deferred to the local runner (which rebuilds
    settled days itself), or with `load_now` each asked-for day rebuilt here (`gharchive load`).
    The publisher is the local bus that delivers this context's events (it sets itself)."""
    where = home if isinstance(home, Home) else Home(Path(home))
    raw_dir, curated_dir = str(where.raw_dir), str(where.curated_dir)
    settings = Settings(raw_bucket=raw_dir, curated_bucket=curated_dir, source=source, topic=LOCAL_TOPIC)
    raw = _Lazy(lambda: open_storage(raw_dir))  # a directory is made on first use only

    def loader() -> Loader:
        from .load.loader import DeferToRunner, LoadDaysNow

        if not load_now:
            return DeferToRunner()
        from .load.local_load import LocalDayLoader

        return LoadDaysNow(LocalDayLoader(where.root, raw=raw.get()))

    return Context(
        settings,
        raw,
        _Lazy(lambda: open_storage(curated_dir)),
        _Lazy.of(publisher) if publisher is not None else _Lazy(_no_publisher),
        _Lazy(loader),
        clock or SystemClock(),
        download,
        progress or NoProgress(),
    )


def _no_publisher() -> Publisher:
    raise MissingSetting(f"{ENV_TOPIC}: no publisher outside the local bus (run the hours through it)")
