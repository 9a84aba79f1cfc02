"""The C kernel's column table, generated from schema.FIELDS: `_fastpath_columns.h`.

The header holds the column enum (one `C_<NAME>` per mapped column, in table order), each column's
kind and its name. It is generated, never edited, and checked into the tree beside `_fastpath.c`:
the wheel, the sdist and the Cloud Functions build (tools/package_functions.py ships src/ as `pkg/`)
then compile it without importing this package (which needs pyarrow, absent from an isolated build
environment). Two guards keep it honest: tests/normalize/test_native_columns.py regenerates it and
compares (`python tools/generate_terraform_inputs.py` rewrites it), and the built module reports its
column names and kinds, which native.py compares with the schema before using it, so a stale build
falls back to the Python mapper instead of writing one column's values under another's name.
"""

from __future__ import annotations

from .. import schema

HEADER_NAME = "_fastpath_columns.h"


def native_columns() -> tuple[tuple[str, str], ...]:
    """(name, kind) of every column the C kernel fills, in the order it returns them."""
    by_name = {f.name: f for f in schema.FIELDS}
    return tuple((name, schema.KINDS[by_name[name].kind].native) for name in schema.MAPPED_COLUMNS)


def render_header() -> str:
    columns = native_columns()
    enum = ",\n".join(f"    C_{name.upper()}" for name, _ in columns)
    names = ",\n".join(f'    "{name}"' for name, _ in columns)
    kinds = "".join(kind for _, kind in columns)
    return (
        "/* GENERATED from src/gharchive_pipeline/schema.py by normalize/native_columns.py\n"
        " * (python tools/generate_terraform_inputs.py): do not edit. The columns the C kernel fills,\n"
        " * in the order it returns them; the lineage columns are added in Python. */\n"
        "#ifndef GHARCHIVE_FASTPATH_COLUMNS_H\n"
        "#define GHARCHIVE_FASTPATH_COLUMNS_H\n\n"
        f"enum {{\n{enum},\n    NCOLS\n}};\n\n"
        "/* 's' string, 'i' int64, 't' timestamp (int64 microseconds, UTC), 'b' bool */\n"
        f'static const char KINDS[NCOLS + 1] = "{kinds}";\n\n'
        f"static const char *const COLUMN_NAMES[NCOLS] = {{\n{names},\n}};\n\n"
        "#endif\n"
    )
