"""A strict BigQuery in front of bqemulator: refuses what BigQuery refuses and the emulator accepts,
and runs the production path (jobs into `table$YYYYMMDD`) that the emulator cannot run.

Wrap a `bigquery.Client` pointed at bqemulator (`StrictBigQuery(client)`) and hand the wrapper to
code that takes a client (load/bigquery_sink.py, the Spark job, `gharchive smoke`). Every load job
and every query job with a destination is checked against the table's DEPLOYED schema
(terraform/generated/: what Terraform creates, not what the emulator was given), then:

* refused, as BigQuery refuses it, when
  - a REQUIRED column would receive a NULLABLE column: query results are always NULLABLE, and a job
    writing an existing table (WRITE_APPEND, or any write into a partition decorator) keeps the
    table's schema, so it fails with "Field X has changed mode from REQUIRED to NULLABLE"
    (googleapis/google-cloud-python#8093 for loads, googleapis/java-bigquery#2107 and #3166 for query
    results); the same for a REQUIRED column the written data lacks;
  - a written column's type differs from the table's, or the table has no such column (no schema
    update options are used here); a column the table has and the data lacks stays allowed when it
    is NULLABLE: schemas grow, older files load (https://cloud.google.com/bigquery/docs/managing-table-schemas);
  - a row's partitioning column falls outside the decorated day ("loading data into partitioned
    tables": rows must belong to the partition named by the decorator,
    https://cloud.google.com/bigquery/docs/load-data-partitioned-tables);
  - a decorator names a table that is not partitioned, or a table with another partitioning;
* otherwise executed: jobs without a decorator go to the emulator as they are; a job into
  `table$YYYYMMDD` (which bqemulator rejects on loads and silently ignores on queries) is run as
  what BigQuery does: the rows land in a staging table, and one transaction replaces (WRITE_TRUNCATE)
  or extends (WRITE_APPEND) that day of the table.

`jobs` records every checked job (kind, destination, disposition, refusal), so a test can assert
that the production path's jobs were validated. Parquet is the only load format checked (the only
one this project writes); a `gs://` source needs `fetch` (URI -> list of parquet bytes).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from google.api_core.exceptions import BadRequest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "terraform" / "generated"

#: BigQuery's legacy and standard names of one type.
_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
_DECORATOR = re.compile(r"^(?P<table>[^$]+)\$(?P<day>\d{8})$")


def _bq_type(name: str) -> str:
    return _ALIASES.get(name.upper(), name.upper())


def _arrow_bq_type(t: pa.DataType) -> str:
    """The BigQuery type a parquet column of arrow type `t` loads as."""
    if pa.types.is_integer(t):
        return "INT64"
    if pa.types.is_floating(t):
        return "FLOAT64"
    if pa.types.is_boolean(t):
        return "BOOL"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTES"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_decimal(t):
        return "NUMERIC"
    if pa.types.is_list(t):
        return "ARRAY"
    if pa.types.is_struct(t):
        return "STRUCT"
    return str(t).upper()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    mode: str  # NULLABLE | REQUIRED | REPEATED


@dataclass(frozen=True)
class TableSpec:
    """The deployed definition of one table: columns and the DAY partitioning column (or None)."""

    columns: tuple[Column, ...]
    partition_field: str | None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def deployed_specs(generated: Path = GENERATED) -> dict[str, TableSpec]:
    """Table name -> spec, from the schemas Terraform deploys (terraform/generated/): `events` is
    partitioned on created_at, each statistics table on its first column (terraform/bigquery.tf)."""

    def cols(path: Path) -> tuple[Column, ...]:
        return tuple(
            Column(c["name"], _bq_type(c["type"]), c.get("mode", "NULLABLE"))
            for c in json.loads(path.read_text())
        )

    specs = {"events": TableSpec(cols(generated / "events_schema.json"), "created_at")}
    for path in sorted((generated / "stats_tables").glob("*.json")):
        columns = cols(path)
        specs[path.stem] = TableSpec(columns, columns[0].name)
    return specs


def spec_of_table(table: Any) -> TableSpec:
    """A spec from a `bigquery.Table` as the emulator reports it (tables not deployed by Terraform)."""
    tp = table.time_partitioning
    return TableSpec(
        tuple(Column(f.name, _bq_type(f.field_type), f.mode or "NULLABLE") for f in table.schema),
        tp.field if tp is not None else None,
    )


@dataclass(frozen=True)
class Written:
    """What a job writes: its columns (name, BigQuery type, nullable) and its partition-column values."""

    columns: tuple[tuple[str, str, bool], ...]


@dataclass
class Job:
    """One job the strict layer checked."""

    kind: str  # load | query
    destination: str
    disposition: str
    refused: str = ""

    def result(self, *args: Any, **kwargs: Any) -> Job:
        if self.refused:
            raise BadRequest(self.refused)
        return self


@dataclass
class StrictBigQuery:
    """A bigquery.Client (on bqemulator) behind BigQuery's rules; unknown attributes pass through."""

    client: Any
    specs: dict[str, TableSpec] = field(default_factory=deployed_specs)
    fetch: Callable[[str], list[bytes]] | None = None
    jobs: list[Job] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    # ---- what a table is ---------------------------------------------------------------------------
    def spec(self, table_id: str) -> TableSpec:
        name = table_id.rsplit(".", 1)[-1]
        if name in self.specs:
            return self.specs[name]
        return spec_of_table(self.client.get_table(table_id))

    # ---- load jobs ---------------------------------------------------------------------------------
    def load_table_from_file(self, file_obj: Any, destination: Any, job_config: Any = None, **kw: Any) -> Any:
        return self._load([file_obj.read()], str(destination), job_config, kw)

    def load_table_from_uri(
        self, source_uris: Any, destination: Any, job_config: Any = None, **kw: Any
    ) -> Any:
        uris = [source_uris] if isinstance(source_uris, str) else list(source_uris)
        return self._load([b for uri in uris for b in self._read_uri(uri)], str(destination), job_config, kw)

    def _read_uri(self, uri: str) -> list[bytes]:
        if uri.startswith("gs://"):
            if self.fetch is None:
                raise NotImplementedError(f"{uri}: give StrictBigQuery a `fetch` to read gs:// sources")
            return self.fetch(uri)
        path = uri.removeprefix("file://")
        paths = sorted(Path("/").glob(path.lstrip("/"))) if any(ch in path for ch in "*?[") else [Path(path)]
        if not paths:
            raise BadRequest(f"Not found: URI {uri}")
        return [p.read_bytes() for p in paths]

    def _load(self, blobs: list[bytes], destination: str, config: Any, kw: dict[str, Any]) -> Job:
        table_id, day = _split(destination)
        disposition = _disposition(config, default="WRITE_APPEND")
        job = Job("load", destination, disposition)
        self.jobs.append(job)
        if config is not None and str(getattr(config, "source_format", "PARQUET")) != "PARQUET":
            raise NotImplementedError("the strict layer checks parquet loads only")
        tables = [pq.read_table(io.BytesIO(b)) for b in blobs]
        columns = tuple(
            (f.name, _arrow_bq_type(f.type), f.nullable) for f in (tables[0].schema if tables else [])
        )
        spec = self.spec(table_id)
        job.refused = self._refusal(table_id, spec, day, disposition, Written(columns))
        if not job.refused and day is not None and spec.partition_field:
            outside = sum(_outside(t, spec, day) for t in tables)
            if outside:
                job.refused = (
                    f"{outside} row(s) of the load into {destination} belong to other partitions than "
                    f"{day:%Y%m%d} (column {spec.partition_field})"
                )
        if job.refused:
            return job
        if day is None:
            for i, blob in enumerate(blobs):
                cfg = _with_disposition(config, disposition if i == 0 else "WRITE_APPEND")
                self.client.load_table_from_file(io.BytesIO(blob), table_id, job_config=cfg, **kw).result()
            return job
        staging = self._staging(table_id, spec, [c[0] for c in columns])
        try:
            for blob in blobs:
                cfg = _with_disposition(config, "WRITE_APPEND")
                self.client.load_table_from_file(io.BytesIO(blob), staging, job_config=cfg).result()
            self._replace_day(table_id, spec, day, f"`{staging}`", [c[0] for c in columns], disposition)
        finally:
            self.client.delete_table(staging, not_found_ok=True)
        return job

    # ---- query jobs --------------------------------------------------------------------------------
    def query(self, sql: str, job_config: Any = None, **kw: Any) -> Any:
        dest = getattr(job_config, "destination", None) if job_config is not None else None
        if dest is None:
            return self.client.query(sql, job_config=job_config, **kw)
        destination = _table_id(dest)
        table_id, day = _split(destination)
        disposition = _disposition(job_config, default="WRITE_EMPTY")
        job = Job("query", destination, disposition)
        self.jobs.append(job)
        spec = self.spec(table_id)
        # the result's columns as the emulator types them; BigQuery makes every one NULLABLE
        result = self.client.query(sql).result()
        written = Written(tuple((f.name, _bq_type(f.field_type), True) for f in result.schema))
        job.refused = self._refusal(table_id, spec, day, disposition, written)
        source = f"({sql}) AS _result"
        if not job.refused and day is not None and spec.partition_field:
            outside = self._outside_rows(source, spec, day)
            if outside:
                job.refused = (
                    f"{outside} row(s) of the query result for {destination} belong to other "
                    f"partitions than {day:%Y%m%d} (column {spec.partition_field})"
                )
        if job.refused:
            return job
        names = [c[0] for c in written.columns]
        if day is None:
            if disposition == "WRITE_TRUNCATE":  # the whole table: BigQuery takes the result's schema
                raise NotImplementedError("a query replacing a whole table is not emulated")
            self._replace_day(table_id, spec, None, source, names, disposition)
        else:
            self._replace_day(table_id, spec, day, source, names, disposition)
        return job

    # ---- the rules ---------------------------------------------------------------------------------
    def _refusal(self, table_id: str, spec: TableSpec, day: date | None, disposition: str, w: Written) -> str:
        """BigQuery's refusal of writing `w` into `table_id` (decorated with `day`), or ''."""
        if day is not None and spec.partition_field is None:
            return f"Cannot use a partition decorator on {table_id}: the table is not partitioned"
        keeps_schema = day is not None or disposition == "WRITE_APPEND"
        problems: list[str] = []
        for name, typ, nullable in w.columns:
            col = spec.column(name)
            if col is None:
                problems.append(f"no such field: {name} (the table {table_id} has no such column)")
            elif col.type != typ and (col.type, typ) not in {("NUMERIC", "INT64")}:
                problems.append(f"Field {name} has changed type from {col.type} to {typ}")
            elif keeps_schema and col.mode == "REQUIRED" and nullable:
                problems.append(f"Field {name} has changed mode from REQUIRED to NULLABLE")
        if keeps_schema:
            given = {name for name, _, _ in w.columns}
            problems += [
                f"Required field {c.name} is missing from the written data"
                for c in spec.columns
                if c.mode == "REQUIRED" and c.name not in given
            ]
        if problems:
            return f"Provided Schema does not match Table {table_id}. " + "; ".join(problems)
        return ""

    def check_table(self, table_id: str) -> list[str]:
        """Columns of the emulator's `table_id` whose type or mode differs from the deployed schema
        (a deployed column the table lacks is listed too; an extra emulator column is not)."""
        deployed = self.spec(table_id)
        actual = spec_of_table(self.client.get_table(table_id))
        out = []
        for col in deployed.columns:
            have = actual.column(col.name)
            if have is None:
                out.append(f"{col.name}: missing")
            elif (have.type, have.mode) != (col.type, col.mode):
                out.append(f"{col.name}: {have.type} {have.mode}, deployed {col.type} {col.mode}")
        if actual.partition_field != deployed.partition_field:
            out.append(f"partitioning: {actual.partition_field}, deployed {deployed.partition_field}")
        return out

    # ---- running what the emulator cannot -----------------------------------------------------------
    def _staging(self, table_id: str, spec: TableSpec, names: Sequence[str]) -> str:
        """A table of the written columns only (typed as the destination's, all NULLABLE): the
        emulator cannot load a file that lacks a column of its table, BigQuery can."""
        from google.cloud import bigquery

        staging = f"{table_id}_strict_{uuid.uuid4().hex[:10]}"
        cols = [c for c in spec.columns if c.name in set(names)]
        schema = [bigquery.SchemaField(c.name, c.type, mode="NULLABLE") for c in cols]
        self.client.create_table(bigquery.Table(staging, schema=schema))
        return staging

    def _outside_rows(self, source: str, spec: TableSpec, day: date) -> int:
        """Rows of `source` (a `table` or a `(query) AS alias`) not on `day` in the partition column."""
        col = spec.partition_field
        sql = f"SELECT COUNT(*) FROM {source} WHERE {col} IS NULL OR NOT ({_in_day(spec, day)})"
        return int(next(iter(self.client.query(sql).result()))[0])

    def _replace_day(
        self,
        table_id: str,
        spec: TableSpec,
        day: date | None,
        source: str,
        columns: Sequence[str],
        disposition: str,
    ) -> None:
        """One transaction: empty `day` of the table (WRITE_TRUNCATE), insert the rows of `source`."""
        cols = ", ".join(columns)
        script = "BEGIN TRANSACTION;\n"
        if disposition == "WRITE_TRUNCATE" and day is not None:
            script += f"DELETE FROM `{table_id}` WHERE {_in_day(spec, day)};\n"
        script += f"INSERT INTO `{table_id}` ({cols}) SELECT {cols} FROM {source};\nCOMMIT TRANSACTION;"
        self.client.query(script).result()


# ---- helpers ---------------------------------------------------------------------------------------
def _table_id(ref: Any) -> str:
    if isinstance(ref, str):
        return ref
    return f"{ref.project}.{ref.dataset_id}.{ref.table_id}"


def _split(destination: str) -> tuple[str, date | None]:
    m = _DECORATOR.match(destination)
    if not m:
        return destination, None
    return m.group("table"), datetime.strptime(m.group("day"), "%Y%m%d").date()


def _disposition(config: Any, *, default: str) -> str:
    value = getattr(config, "write_disposition", None) if config is not None else None
    return str(value) if value else default


def _with_disposition(config: Any, disposition: str) -> Any:
    from google.cloud import bigquery

    cfg = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET)
    cfg.write_disposition = disposition
    cfg.create_disposition = getattr(config, "create_disposition", None) or "CREATE_NEVER"
    return cfg


def _in_day(spec: TableSpec, day: date) -> str:
    col = spec.partition_field
    assert col is not None
    kind = next(c.type for c in spec.columns if c.name == col)
    if kind == "DATE":
        return f"{col} = DATE '{day}'"
    end = day + timedelta(days=1)
    return f"{col} >= TIMESTAMP '{day} 00:00:00+00' AND {col} < TIMESTAMP '{end} 00:00:00+00'"


def _outside(table: pa.Table, spec: TableSpec, day: date) -> int:
    """Rows of a parquet table whose partitioning column is null or not on `day` (UTC)."""
    col = spec.partition_field
    if col is None or col not in table.column_names or table.num_rows == 0:
        return 0
    values = table.column(col)
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.timestamp("us", tz="UTC"))
        days = pc.cast(pc.floor_temporal(values, unit="day"), pa.date32())
    else:
        days = pc.cast(values, pa.date32())
    inside = pc.equal(days, pa.scalar(day, pa.date32()))
    return int(table.num_rows - pc.sum(pc.fill_null(inside, False).cast(pa.int64())).as_py())


def refusals(jobs: Iterable[Job]) -> list[str]:
    """The refusals among checked jobs (for assertion messages)."""
    return [f"{j.kind} {j.destination}: {j.refused}" for j in jobs if j.refused]


# ---- the emulator ----------------------------------------------------------------------------------
BQVENV = ROOT / ".bqvenv"


@contextmanager
def emulator(project: str, log_path: Path, bqvenv: Path = BQVENV) -> Iterator[Any]:
    """bqemulator from its own virtualenv (it pins duckdb 1.5.5: `make bqemulator`), on free ports;
    yields a plain `bigquery.Client` on it (wrap it in StrictBigQuery). A missing venv fails or
    skips as the other stand-ins do (tests/support/standins.py)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from . import standins
    from .ports import free_port

    exe = bqvenv / "bin" / "bqemulator"
    if not exe.exists():
        standins.missing("bqemulator", f"run `make bqemulator` (creates {bqvenv})")
    # DuckDB's spatial extension cannot be downloaded here: install it from its wheel (idempotent).
    install = (
        "import duckdb, duckdb_extension_spatial as s, pathlib; "
        "f = next(pathlib.Path(s.__file__).parent.glob('extensions/*/spatial.duckdb_extension')); "
        "duckdb.sql('INSTALL ' + repr(str(f)))"
    )
    subprocess.run([str(bqvenv / "bin" / "python"), "-c", install], check=True)
    rest, grpc = free_port(), free_port()
    with log_path.open("w") as log:
        cmd = [str(exe), "start", "--rest-port", str(rest), "--grpc-port", str(grpc)]
        proc = subprocess.Popen(
            [*cmd, "--project", project, "--log-level", "warning"], stdout=log, stderr=log
        )
        try:
            client = bigquery.Client(
                project=project,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{rest}"),
            )
            for _ in range(120):
                try:
                    list(client.list_datasets())
                    break
                except Exception:
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"bqemulator exited with {proc.returncode}; see {log_path}"
                        ) from None
                    time.sleep(0.5)
            yield client
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
