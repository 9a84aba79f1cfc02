"""Shared fixtures: the real GH Archive hours bundled under data/gharchive (see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "gharchive"

#: complete real hours and their exact event counts (SOURCES.md)
COMPLETE_HOURS: dict[str, int] = {
    "2011-02-15-0.json.gz": 1639,
    "2012-02-15-0.json.gz": 4074,
    "2012-06-14-15.json.gz": 5313,
    "2012-10-13-0.json.gz": 3086,
    "2014-02-15-0.json.gz": 7119,
    "2015-01-01-0.json.gz": 7702,
    "2015-01-01-1.json.gz": 7427,
    "2015-01-01-3.json.gz": 5971,
    "2015-01-01-5.json.gz": 5887,
}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
