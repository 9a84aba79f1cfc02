"""One hour normalized on the native and on the pure-Python path, checked for raw e-mail addresses.

The leak tests plant addresses in real hours; both paths must hash every one of them and give the
same rows, so the check and the comparison are spelled once here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.normalize import native, normalize


def string_text(table: pa.Table) -> str:
    """Every non-null value of the table's string columns, one a line: where a leak would show."""
    return "\n".join(
        "\n".join(str(v) for v in table.column(c).to_pylist() if v is not None)
        for c in table.column_names
        if pa.types.is_string(table.schema.field(c).type)
    )


def normalized_on_both_paths(
    src: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *, events: int, leaks: Iterable[str]
) -> pa.Table:
    """Normalize `src` natively, then in pure Python (into out/native, out/python): each path must
    take `events` events, reject none and show none of `leaks` in a string column, and both must
    give the same rows. Those rows, without the run-specific `ingested_at`."""
    leaks = list(leaks)
    tables = []
    for path in ("native", "python"):
        if path == "python":
            monkeypatch.setattr(native, "_module", None)
            monkeypatch.setattr(native, "AVAILABLE", False)
        result = normalize(src, out / path / "events.parquet")
        assert (result.events, result.rejects) == (events, 0), path
        table = pq.read_table(result.output)
        text = string_text(table)
        assert [leak for leak in leaks if leak in text] == [], f"{path}: raw addresses in the output"
        tables.append(table.drop_columns(["ingested_at"]))
    assert tables[0].equals(tables[1]), "native and Python rows differ"
    return tables[0]
