"""Test-only loaders: load each hour in the test's process instead of submitting a batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.load.loader import LoadRequest, LoadResult
from gharchive_pipeline.outcome import LoadOutcome

#: fn(home, hour): loads one hour of the home whose curated bucket is HOME/curated.
LocalLoader = Callable[[Path, Hour], Any]


class InProcessLoader:
    """Loads each hour in this process with `fn(home, hour)`; its result's scalar fields go to the
    ledger. `in_process`: the load stage skips an hour already loaded at this curated generation."""

    in_process = True

    def __init__(self, fn: LocalLoader) -> None:
        self.fn = fn

    def load(self, request: LoadRequest) -> LoadResult:
        home = Path(request.curated_url).parent  # these tests' layout: HOME/curated
        details: dict[str, Any] = {}
        for version in request.covers:
            details.update(_jsonable_fields(self.fn(home, version.hour)))
        return LoadResult(LoadOutcome.LOADED, details=details)


def _jsonable_fields(result: Any) -> dict[str, Any]:
    """A load result's scalar fields, for the ledger (whatever the loader's result type is)."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        return {}
    return {
        k: v
        for k, v in dataclasses.asdict(result).items()
        if isinstance(v, str | int | float | bool) or v is None
    }


@dataclasses.dataclass(frozen=True)
class FixedClock:
    """A clock stopped at `at` whose sleep returns at once (or calls `wait`)."""

    at: Any
    wait: Callable[[float], None] = lambda _s: None

    def now(self) -> Any:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.wait(seconds)
