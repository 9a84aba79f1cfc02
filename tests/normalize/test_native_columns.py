"""The C kernel's column table is the schema's: generated, checked in current, and checked again by
the built module itself (a stale build is not used)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gharchive_pipeline import schema
from gharchive_pipeline.normalize import native, native_columns
from gharchive_pipeline.normalize.curated import Curated
from gharchive_pipeline.normalize.eras import Envelope
from gharchive_pipeline.normalize.writer import check_row_contract

HEADER = Path(native_columns.__file__).with_name(native_columns.HEADER_NAME)


def test_checked_in_header_is_the_generated_one() -> None:
    assert HEADER.read_text() == native_columns.render_header(), (
        "stale _fastpath_columns.h: run python tools/generate_terraform_inputs.py"
    )


def test_header_lists_every_mapped_column_in_table_order_with_its_kind() -> None:
    text = HEADER.read_text()
    positions = [text.index(f"    C_{name.upper()},\n") for name in schema.MAPPED_COLUMNS]
    assert positions == sorted(positions)
    kinds = "".join(schema.KINDS[f.kind].native for f in schema.FIELDS if f.source != "lineage")
    assert f'KINDS[NCOLS + 1] = "{kinds}";' in text


@pytest.mark.skipif(not native.AVAILABLE, reason="native fast path not built")
def test_built_module_reports_the_schema_columns() -> None:
    assert native._module is not None
    assert tuple(native._module.columns()) == native_columns.native_columns()


def test_a_module_built_for_other_columns_is_not_used(caplog: pytest.LogCaptureFixture) -> None:
    swapped = list(native_columns.native_columns())
    swapped[12], swapped[13] = swapped[13], swapped[12]  # two string columns swapped: same kinds
    stale = SimpleNamespace(columns=lambda: tuple(swapped))
    assert not native._matches_schema(stale)  # type: ignore[arg-type]
    assert "stale build" in caplog.text
    assert not native._matches_schema(SimpleNamespace())  # type: ignore[arg-type]  # built before columns()


def test_python_row_fields_are_the_schema_columns() -> None:
    check_row_contract()
    assert Envelope._fields == schema.names("envelope")
    assert Curated._fields == schema.names("curated")
    assert (*Envelope._fields, *Curated._fields) == schema.MAPPED_COLUMNS
