"""The Spark transformation of a day rebuild: contributing hour files -> the day's rows, one per
DEDUP_KEY, chosen by days.DEDUP_ORDER.

Pure DataFrame functions (no sink I/O), used by the Dataproc job and the local Spark sink. pyspark
is imported lazily so the core package stays importable without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import PermanentError
from ..hours import Hour
from ..literal_paths import hadoop_path
from ..schema import COLUMN_NAMES, DEDUP_KEY, FIELDS
from ..storage.base import object_url
from .days import DEDUP_ORDER, day_bounds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Helper column: the hour key (`2015-01-01T15`) of the curated file a row was read from.
HOUR_COL = "_load_hour"
_RANK_COL = "_dup_rank"
#: Curated object names carry the hour; this pulls it out of Spark's input_file_name().
_FILE_HOUR_RE = r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/events\.parquet$"


class SchemaMismatch(PermanentError, ValueError):
    """A curated file lacks columns of schema.FIELDS (names the files and columns)."""


@dataclass(frozen=True)
class HourCounts:
    """What one contributing hour gave to a day: its rows created on the day, how many survived."""

    hour: str
    input_rows: int
    rows: int
    foreign_rows: int  # rows whose source_hour column is not the file's hour (a normalizer bug)
    null_required: int = 0  # rows with a null in a REQUIRED column (a normalizer bug)


def session_conf(*, local: bool) -> dict[str, str]:
    """Spark settings the job relies on: UTC everywhere, parquet timestamps as TIMESTAMP_MICROS
    (BigQuery and DuckDB read them as UTC instants), and a shuffle sized for one day at a time."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # adaptive execution coalesces these for small days
        "spark.sql.shuffle.partitions": "8" if local else "64",
    }
    if local:
        conf |= {
            # one day at a time: the cached day and the window sort spill to disk past this
            "spark.driver.memory": "1g",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        }
    return conf


#: log4j2 settings for local runs: errors only, so a CLI run is not buried under JVM chatter.
_QUIET_LOG4J2 = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def _quiet_log4j2() -> str:
    path = Path(tempfile.gettempdir()) / "gharchive-spark-log4j2.properties"
    if not path.exists() or path.read_text() != _QUIET_LOG4J2:
        path.write_text(_QUIET_LOG4J2)
    return str(path)


def build_session(app_name: str = "gharchive-load", *, master: str | None = None) -> SparkSession:
    """A SparkSession with session_conf(); local masters also get quiet logs and a loopback address."""
    import warnings

    from pyspark.sql import SparkSession

    local = bool(master and master.startswith("local"))
    builder = SparkSession.builder.appName(app_name)
    conf = session_conf(local=local)
    if master:
        builder = builder.master(master)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        java = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{_quiet_log4j2()}"
        conf["spark.driver.extraJavaOptions"] = java
        conf["spark.executor.extraJavaOptions"] = java
    for key, value in conf.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*", category=FutureWarning)
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def curated_path(curated_base: str, hour: Hour) -> str:
    return object_url(curated_base, layout.curated_object(hour))


def existing(spark: SparkSession, paths: Sequence[str]) -> list[str]:
    """The paths that exist, checked through Hadoop's FileSystem (local dirs and gs:// alike)."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    found = []
    for p in paths:
        jpath = jvm.org.apache.hadoop.fs.Path(p)
        if jpath.getFileSystem(conf).exists(jpath):
            found.append(p)
    return found


def parquet_files(spark: SparkSession, folder: str) -> list[str]:
    """The parquet files Spark wrote under `folder` (local or gs://), through Hadoop's FileSystem."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    pattern = jvm.org.apache.hadoop.fs.Path(f"{hadoop_path(folder.rstrip('/'))}/*.parquet")
    found = pattern.getFileSystem(conf).globStatus(pattern) or []
    return sorted(str(status.getPath().toString()) for status in found)


def delete_path(spark: SparkSession, path: str) -> None:
    """Remove a staging folder (local or gs://) through Hadoop's FileSystem."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    jpath.getFileSystem(conf).delete(jpath, True)


def read_curated(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """The curated rows of `paths`, cast to schema.FIELDS, plus HOUR_COL taken from each file name.
    Each path is read as exactly that file (literal_paths: Spark would expand glob characters).

    Files written before a column was added lack it: their schemas are merged (by name) and a
    NULLABLE column no file has reads as null; a REQUIRED one missing is a SchemaMismatch."""
    from pyspark.sql import functions as F

    from ..schema import spark_schema

    df = spark.read.option("mergeSchema", "true").parquet(*(hadoop_path(p) for p in paths))
    missing = [c for c in COLUMN_NAMES if c not in df.columns]
    required = {f.name for f in FIELDS if f.required}
    if required.intersection(missing):
        raise SchemaMismatch(
            f"curated files {list(paths)[:3]}... lack columns {sorted(required.intersection(missing))}"
        )
    types = {f.name: f.dataType for f in spark_schema().fields}
    file_hour = F.regexp_extract(F.input_file_name(), _FILE_HOUR_RE, 1)
    clock = F.regexp_extract(F.input_file_name(), _FILE_HOUR_RE, 2)
    return df.select(
        *[(F.lit(None) if c in missing else F.col(c)).cast(types[c]).alias(c) for c in COLUMN_NAMES],
        F.concat(file_hour, F.lit("T"), clock).alias(HOUR_COL),
    )


def in_day(df: DataFrame, day: date) -> DataFrame:
    """The rows created on UTC day `day` (a range on created_at, so parquet row groups are skipped)."""
    from pyspark.sql import functions as F

    start, end = day_bounds(day)
    return df.where((F.col("created_at") >= F.lit(start)) & (F.col("created_at") < F.lit(end)))


def rank_copies(df: DataFrame) -> DataFrame:
    """Number the copies of each DEDUP_KEY by days.DEDUP_ORDER; rank 1 is the survivor."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col(c).asc_nulls_last() if asc else F.col(c).desc_nulls_last() for c, asc in DEDUP_ORDER]
    window = Window.partitionBy(*DEDUP_KEY).orderBy(*order)
    return df.withColumn(_RANK_COL, F.row_number().over(window))


def count_hours(day: DataFrame) -> dict[str, HourCounts]:
    """Per file hour: rows created on the day, rows that survive deduplication, rows claiming
    another source_hour and rows with nulls in REQUIRED columns.

    Computed from the narrow columns only (two small aggregations, no wide sort), so the day's rows
    are read once more by the write instead of being cached: memory stays bounded on a 2024-size
    day. Which hour's copy survives depends only on DEDUP_ORDER's first column, source_hour, which
    equals the file hour unless foreign_rows says otherwise (then the load is refused anyway).
    """
    from pyspark.sql import functions as F

    required = [f.name for f in FIELDS if f.required]
    narrow = day.select(HOUR_COL, *dict.fromkeys([*DEDUP_KEY, *required]))
    own = F.date_format(F.col("source_hour"), "yyyy-MM-dd'T'HH") == F.col(HOUR_COL)
    some_null = F.greatest(*(F.col(c).isNull().cast("int") for c in required), F.lit(0))
    seen = (
        narrow.groupBy(HOUR_COL)
        .agg(
            F.count(F.lit(1)).alias("input_rows"),
            F.sum(F.when(own, 0).otherwise(1)).alias("foreign_rows"),
            F.sum(some_null).alias("null_required"),
        )
        .collect()
    )
    kept: dict[str, int] = {
        r[HOUR_COL]: int(r["count"])
        for r in narrow.groupBy(*DEDUP_KEY)
        .agg(F.min(HOUR_COL).alias(HOUR_COL))  # `2015-01-01T00` sorts as time does
        .groupBy(HOUR_COL)
        .count()
        .collect()
    }
    return {
        r[HOUR_COL]: HourCounts(
            r[HOUR_COL],
            int(r["input_rows"]),
            int(kept.get(r[HOUR_COL], 0)),
            int(r["foreign_rows"]),
            int(r["null_required"]),
        )
        for r in seen
    }


def unique_rows(ranked: DataFrame) -> DataFrame:
    """The survivors, in schema column order: what the day partition holds.

    REQUIRED columns are made non-nullable (a coalesce that never applies: count_hours refuses
    nulls there first), so the parquet marks them required and a BigQuery load job can write it
    into the REQUIRED columns of `events` (a nullable file column is refused for them).
    """
    from pyspark.sql import functions as F

    cols = [
        F.coalesce(F.col(f.name), F.lit(_FILLER[f.kind])).alias(f.name) if f.required else F.col(f.name)
        for f in FIELDS
    ]
    return ranked.where(ranked[_RANK_COL] == 1).select(*cols)


#: Never written (see unique_rows); typed values, so the coalesce keeps each column's type.
_FILLER: dict[str, object] = {
    "STRING": "",
    "TIMESTAMP": datetime(1970, 1, 1, tzinfo=UTC),
    "INT64": 0,
    "BOOL": False,
}
