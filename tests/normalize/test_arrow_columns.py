"""arrow_columns: Python values -> Arrow arrays through buffers, exactly as pa.array builds them.

The normalizer builds its arrays this way because pa.array imports pandas on its first call (a
seventh of an hour's normalize); the last test pins that no normalize imports it.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gharchive_pipeline import schema
from gharchive_pipeline.normalize.arrow_columns import column, constant
from gharchive_pipeline.normalize.eras import EventMapper, Row
from gharchive_pipeline.normalize.timestamps import BIGQUERY_RANGE

from ..conftest import COMPLETE_HOURS, DATA

TS = pa.timestamp("us", tz="UTC")
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace").encode())
TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC) | st.none()
) | st.integers(min_value=-(2**62), max_value=2**62)


def _same(values: list[Any], type_: pa.DataType) -> None:
    built = column(values, type_)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=type_)), values
    assert built.null_count == sum(v is None for v in values)


@settings(deadline=None)  # the first pa.array call imports pandas (the reference side)
@given(st.lists(st.none() | TEXT))
def test_text_as_pyarrow_builds_it(values: list[Any]) -> None:
    _same(values, pa.string())


@settings(deadline=None)  # the first pa.array call imports pandas (the reference side)
@given(st.lists(st.none() | INT64))
def test_integers_as_pyarrow_builds_them(values: list[Any]) -> None:
    _same(values, pa.int64())


@settings(deadline=None)  # the first pa.array call imports pandas (the reference side)
@given(st.lists(st.none() | st.booleans()))
def test_booleans_as_pyarrow_builds_them(values: list[Any]) -> None:
    _same(values, pa.bool_())


@settings(deadline=None)  # the first pa.array call imports pandas (the reference side)
@given(st.lists(st.none() | TIMES))
def test_timestamps_as_pyarrow_builds_them(values: list[Any]) -> None:
    _same(values, TS)


def test_offsets_and_other_forms_are_kept() -> None:
    pacific = timezone(timedelta(hours=-8))
    _same([datetime(2012, 3, 10, 7, 0, 1, 5, tzinfo=pacific), None], TS)
    _same([], pa.string())
    assert constant("events", pa.string(), 3).to_pylist() == ["events"] * 3
    assert constant(datetime(2015, 1, 1, tzinfo=UTC), TS, 2).equals(pa.array([datetime(2015, 1, 1)] * 2, TS))


@pytest.mark.parametrize("bad", [["\ud800"], [b"\xff"], [3]])
def test_what_pyarrow_refuses_is_still_refused(bad: list[Any]) -> None:
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError)):
        column(bad, pa.string())


@pytest.mark.parametrize("name", sorted(COMPLETE_HOURS))
def test_every_mapped_column_of_real_hours(name: str) -> None:
    """All eras through the Python mapper: each column as pa.array builds it."""
    mapper = EventMapper(BIGQUERY_RANGE)
    rows: list[Row] = []
    for line in gzip.decompress((DATA / name).read_bytes()).splitlines():
        try:
            rows.append(mapper.map(orjson.loads(line)))
        except Exception:  # a reject: not what this test is about
            continue
    arrow = schema.arrow_schema()
    for part, fields in ((0, rows[0][0]._fields), (1, rows[0][1]._fields)):
        for i, field in enumerate(fields):
            _same([row[part][i] for row in rows], arrow.field(field).type)


def test_normalize_never_imports_pandas(tmp_path: Path) -> None:
    """pandas is installed here (the bench's seed needs it): a real hour that the native path
    partly gives back to Python, and an hour all in Python, run without importing it."""
    script = (
        "import sys; from pathlib import Path; from gharchive_pipeline.normalize import normalize\n"
        f"for name in ('2015-01-01-0.json.gz', '2012-02-15-0.json.gz'):\n"
        f"    normalize(Path({str(DATA)!r}) / name, Path({str(tmp_path)!r}) / (name + '.parquet'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas'))\n"
    )
    pytest.importorskip("pandas")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
