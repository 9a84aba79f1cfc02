"""Curated hours written by an older pipeline (fewer columns) still load, their missing columns null.

tests/data/curated_v0/ holds two hours `gharchive normalize` wrote with the 24-column schema of
pipeline 0.1.0, before the schema grew; they are loaded here with today's schema beside an hour
written today, by the local DuckDB day loader, the Spark reader (read_curated) and the stats views.
"""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import layout, schema
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.load.local_load import LocalDayLoader
from gharchive_pipeline.load.local_warehouse import EVENTS, day_dir
from gharchive_pipeline.normalize import normalize
from gharchive_pipeline.stats.query import connect

from ..conftest import DATA, ROOT
from ..support import standins

OLD = ROOT / "tests" / "data" / "curated_v0"
OLD_HOUR = Hour.parse("2018-01-01T00")
NEW_HOUR = Hour.parse("2018-01-01T01")
DAY = date(2018, 1, 1)


def old_columns() -> list[str]:
    return pq.read_schema(OLD / "2018-01-01-00.parquet").names


def test_fixtures_are_from_before_the_schema_grew() -> None:
    names = old_columns()
    assert len(names) == 24 and names == pq.read_schema(OLD / "2014-02-15-00.parquet").names
    assert set(names) < set(schema.COLUMN_NAMES)
    assert {f.name for f in schema.FIELDS if f.required} <= set(names)


def _new_hour_file(tmp: Path) -> Path:
    """Today's normalizer on the same 10 events under other ids (hour 01 of the same day)."""
    lines = (DATA / "partial" / "2018-01-01-0.json").read_bytes().splitlines()
    events = [orjson.loads(line) for line in lines if line.strip()]
    src = tmp / "2018-01-01-1.json.gz"
    src.write_bytes(gzip.compress(b"\n".join(orjson.dumps({**e, "id": "9" + e["id"]}) for e in events)))
    out = tmp / "new.parquet"
    normalize(src, out)
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for hour, src in ((OLD_HOUR, OLD / "2018-01-01-00.parquet"), (NEW_HOUR, _new_hour_file(tmp_path))):
        dst = home / "curated" / layout.curated_object(hour)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return home


def _rows(home: Path) -> list[dict[str, Any]]:
    return pq.read_table(day_dir(home / "warehouse", EVENTS, DAY) / "part-0.parquet").to_pylist()


def test_duckdb_day_load_reads_old_and_new_files_by_name(home: Path) -> None:
    result = LocalDayLoader(home).rebuild(DAY)
    assert result.load is not None and result.load.rows == 20
    table = pq.read_table(day_dir(home / "warehouse", EVENTS, DAY) / "part-0.parquet")
    assert table.schema.names == list(schema.COLUMN_NAMES)
    added = [c for c in schema.COLUMN_NAMES if c not in old_columns()]
    old = [r for r in table.to_pylist() if r["source_hour"].hour == 0]
    new = [r for r in table.to_pylist() if r["source_hour"].hour == 1]
    assert len(old) == len(new) == 10
    assert all(r[c] is None for r in old for c in added)  # what the old file lacks is null
    written = {r["id"]: r for r in pq.read_table(OLD / "2018-01-01-00.parquet").to_pylist()}
    for r in old:  # every column the old file has keeps its value
        assert all(r[c] == written[r["id"]][c] for c in old_columns())
    assert {r["id"] for r in new} == {"9" + i for i in written}


def test_only_old_files_still_load_with_every_column(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dst = home / "curated" / layout.curated_object(OLD_HOUR)
    dst.parent.mkdir(parents=True)
    shutil.copyfile(OLD / "2018-01-01-00.parquet", dst)
    result = LocalDayLoader(home).rebuild(DAY)
    assert result.load is not None and result.load.rows == 10
    assert list(_rows(home)[0]) == list(schema.COLUMN_NAMES)
    # the statistics views read the warehouse by name too: an old day beside a new one
    events = connect(home / "warehouse").execute("SELECT count(*) FROM events").fetchone()
    assert events == (10,)


@pytest.mark.slow
def test_spark_reader_fills_missing_columns_with_nulls(home: Path) -> None:
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    from gharchive_pipeline.load.local_load import local_spark
    from gharchive_pipeline.load.spark_frames import read_curated

    spark = local_spark()
    paths = sorted(str(p) for p in (home / "curated").rglob("*.parquet"))
    df = read_curated(spark, [paths[0]])  # the old file alone: no file has the new columns
    assert df.columns[: len(schema.COLUMN_NAMES)] == list(schema.COLUMN_NAMES)
    added = [c for c in schema.COLUMN_NAMES if c not in old_columns()]
    rows = df.collect()
    assert len(rows) == 10 and all(r[c] is None for r in rows for c in added)
    both = read_curated(spark, paths).collect()  # old and new: merged by name
    assert len(both) == 20
    assert (
        sum(1 for r in both if r["number"] is not None) == sum(1 for r in rows if r["number"] is not None) * 2
    )


@pytest.mark.slow
def test_bigquery_gets_an_old_hour_with_every_column(tmp_path: Path) -> None:
    """BigQuery never loads curated files itself: the day rebuild (Spark in the cloud, DuckDB here,
    both read curated files by name) writes every column, the new ones null for an old hour, and
    that day file loads into today's table (on bqemulator behind BigQuery's rules). bqemulator
    refuses a parquet file with fewer columns than the table ("has 56 columns but 24 values were
    supplied"), so the day file is what must carry them all."""
    from gharchive_pipeline.load import bigquery_sink as bq

    from ..support import strict_bigquery
    from ..support.strict_bigquery import StrictBigQuery

    home = tmp_path / "home"
    dst = home / "curated" / layout.curated_object(OLD_HOUR)
    dst.parent.mkdir(parents=True)
    shutil.copyfile(OLD / "2018-01-01-00.parquet", dst)
    LocalDayLoader(home).rebuild(DAY)
    day_file = day_dir(home / "warehouse", EVENTS, DAY) / "part-0.parquet"
    table = "p.gharchive.events"
    with strict_bigquery.emulator("p", tmp_path / "bqemulator.log") as emulator:
        emulator.create_dataset("p.gharchive", exists_ok=True)
        client = StrictBigQuery(emulator)
        bq.ensure_tables(client, table)
        bq.replace_day(client, table, [day_file], DAY, bq.PartitionWrite.TRANSACTION)
        added = [c for c in schema.COLUMN_NAMES if c not in old_columns()]
        nulls = " AND ".join(f"{c} IS NULL" for c in added)
        [(total, all_null)] = [
            tuple(r.values())
            for r in client.query(f"SELECT COUNT(*), COUNTIF({nulls}) FROM `{table}`").result()
        ]
        assert (total, all_null) == (10, 10)
