"""The Spark job's local sink (`spark/load_events.py --sink local`): day partitions of a local
warehouse directory, in the layout and with the statistics of load/local_warehouse.py.

The events partition is written by Spark into a staging directory, the day's statistics are
computed from it with DuckDB (load/duckdb_days.stage_stats, the same SQL as BigQuery), and the
three partitions are swapped in together with the manifest of the curated versions read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .days import Contributor
from .duckdb_days import DuckDBConfig, stage_stats
from .local_warehouse import EVENTS, PartitionWriter, manifest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class SparkLocalSink:
    name = "local"

    def __init__(self, warehouse: Path, config: DuckDBConfig | None = None) -> None:
        self.warehouse = warehouse
        self.target = str(warehouse)
        self.config = config or DuckDBConfig()
        self._inputs: dict[str, Any] = {}
        self._writer: PartitionWriter | None = None

    def sources(self, day: date, found: Sequence[Contributor]) -> None:
        self._inputs = manifest(day, {c.hour: c.generation for c in found})

    def replace_day(self, rows: DataFrame, day: date) -> None:
        """Stage the events partition; refresh_stats swaps it in with the statistics."""
        writer = self._writer = PartitionWriter(self.warehouse, day)
        try:
            staging = writer.staging(EVENTS)
            rows.write.mode("overwrite").option("compression", "zstd").parquet(str(staging))
        except BaseException:
            writer.abort()
            self._writer = None
            raise

    def refresh_stats(self, day: date) -> None:
        writer, self._writer = self._writer, None
        if writer is None or writer.day != day:
            raise RuntimeError(f"day {day}: refresh_stats without replace_day")
        try:
            stage_stats(writer, day, config=self.config)
            writer.commit(self._inputs)
        finally:
            writer.abort()
