"""Which Events-era lines the native mapper (`normalize/_fastpath.c`) leaves to Python by design.

The C kernel hashes and scrubs e-mails in the payload itself, but a line whose row would hold, in
any other string column, an '@' that may end an address (after a local-part character or a quote:
"ann@x.org", a title "see a.@b") or any `%40` goes to the Python mapper, whose scrubber decides
(write_row's `may_hold_address`). A mention ("@user please", "Use @sh?") stays native. Tests that
count the native mapper's share compute it with this rule instead of hard-coding it, so a change of
the mapping cannot hide a real drop.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import orjson

from gharchive_pipeline.normalize.eras import EVENTS, EventMapper, detect_era
from gharchive_pipeline.normalize.pii import _LOCAL_CHARS

#: an '@' after a local-part character (pii.scrub's set) or a quote, or any `%40`
_MAY_END_ADDRESS = re.compile(rb'[%s"]@|%%40' % _LOCAL_CHARS)


def column_holds_at(line: bytes) -> bool:
    """Whether a column value (not the payload) of the line's row may hold an address."""
    row = EventMapper().map(orjson.loads(line)).columns()
    return any(
        isinstance(v, str) and _MAY_END_ADDRESS.search(v.encode()) is not None
        for k, v in row.items()
        if k not in ("payload", "other")
    )


def deferred_by_design(path: Path) -> int:
    """How many Events-era lines of the (gzipped) hour file the native mapper leaves to Python."""
    count = 0
    with gzip.open(path) as lines:
        for line in lines:
            if line.strip() and detect_era(orjson.loads(line)) == EVENTS:
                count += column_holds_at(line)
    return count
