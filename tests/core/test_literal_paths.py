"""literal_paths: what DuckDB and Spark are given reads exactly the file named, and nothing in the
package hands either engine a path any other way (end to end: tests/faults/test_literal_paths.py)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from gharchive_pipeline.literal_paths import duckdb_files, duckdb_path, hadoop_path, sql_string
from tests.conftest import ROOT

NAMES = ["p[1]", "p*", "p?", "{a,b}", "r[[]", "x]y", "a\\b", "~x", "it's", "s3:"]


@pytest.mark.parametrize("name", NAMES)
def test_duckdb_reads_exactly_the_named_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in (name, "p1", "pq", "a", "r[", "x"):  # siblings a pattern would match
        (tmp_path / folder).mkdir(exist_ok=True)
        target = sql_string(str(tmp_path / folder / "f.parquet"))
        duckdb.sql(f"COPY (SELECT {sql_string(folder)} AS d) TO {target}")
    got = duckdb.sql(
        f"SELECT d, filename FROM read_parquet({duckdb_files([Path(name) / 'f.parquet'])})"
    ).fetchall()
    assert got == [(name, str(tmp_path / name / "f.parquet"))]
    assert duckdb_path(Path(name)).startswith("/")  # relative: `~x` would be the user's home


def test_hadoop_paths_escape_every_glob_character() -> None:
    assert hadoop_path("/h/{a,b}/p[1]/x*?\\y") == r"/h/\{a,b\}/p\[1\]/x\*\?\\y"
    assert hadoop_path("gs://bucket/events/date=2015-01-01/hour=00/events.parquet") == (
        "gs://bucket/events/date=2015-01-01/hour=00/events.parquet"
    )
    assert hadoop_path("rel/x").startswith("/")


#: How the package hands a file to an engine; each must go through literal_paths on the same statement.
ENGINE_READS = {
    re.compile(r"read_parquet\("): "duckdb_files(",
    re.compile(r"\.read\b.*\.parquet\("): "hadoop_path(",
    re.compile(r"globStatus\("): "hadoop_path(",
}


def test_every_engine_read_in_the_package_takes_literal_paths() -> None:
    sources = [*(ROOT / "src").rglob("*.py"), *(ROOT / "spark").rglob("*.py")]
    offenders = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        # one statement: the line and the next two (calls wrapped by the formatter)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            for pattern, needed in ENGINE_READS.items():
                if pattern.search(line) and not line.lstrip().startswith(("#", '"""', "`")):
                    window = "\n".join(lines[max(i - 2, 0) : i + 3])
                    if needed not in window and "literal" not in window:
                        offenders.append(f"{path.relative_to(ROOT)}:{i + 1}: {line.strip()}")
    assert offenders == []
