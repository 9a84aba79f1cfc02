"""`gharchive normalize`: summary output, hour from the file name, one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from gharchive_pipeline.cli import cli

from ..conftest import DATA


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["normalize", *args])
    return result.exit_code, result.output


def test_normalize_prints_events_rejects_era_and_seconds(tmp_path: Path) -> None:
    code, output = run(str(DATA / "2012-10-13-0.json.gz"), str(tmp_path / "out.parquet"))
    assert code == 0, output
    assert "hour 2012-10-13T00: 3086 events written" in output
    assert "rejects: 0" in output and "era: timeline" in output and "seconds: " in output
    assert pq.read_metadata(tmp_path / "out.parquet").num_rows == 3086


def test_hour_option_and_mixed_eras(tmp_path: Path) -> None:
    src = DATA / "partial" / "sample.small.json"
    code, output = run(str(src), str(tmp_path / "out.parquet"))
    assert code == 1
    assert output.count("\n") == 1 and output.startswith("Error: ") and "--hour" in output
    code, output = run(str(src), str(tmp_path / "out.parquet"), "--hour", "2014-01-09T05")
    assert code == 0 and "era: events (events 1164, timeline 140)" in output
    code, output = run(str(src), str(tmp_path / "out.parquet"), "--hour", "2014-13-09T05")
    assert code == 2 and "Invalid value for '--hour'" in output


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    src = tmp_path / "2015-01-01-3.json.gz"
    data = (DATA / "2015-01-01-3.json.gz").read_bytes()
    src.write_bytes(data[: len(data) // 3])
    code, output = run(str(src), str(tmp_path / "out.parquet"))
    assert code == 1 and output.count("\n") == 1 and "Traceback" not in output
    assert f"Error: {src}: truncated gzip stream" in output
    assert not (tmp_path / "out.parquet").exists()
    code, output = run(str(src), str(tmp_path / "out.parquet"), "--salvage")
    assert code == 0 and "salvaged: truncated gzip stream" in output and "kept the " in output
    empty = tmp_path / "2015-01-01-4.json.gz"
    empty.write_bytes(b"")
    code, output = run(str(empty), str(tmp_path / "e.parquet"))
    assert (code, output) == (1, f"Error: {empty}: file is empty (0 bytes)\n")
    code, output = run(str(tmp_path / "missing-2015-01-01-4.json.gz"), str(tmp_path / "m.parquet"))
    assert code == 1 and "no such file" in output


def test_salvage_refuses_a_corrupt_stream_in_one_line(tmp_path: Path) -> None:
    """A flipped bit: --salvage cannot tell which lines it altered, so it keeps none."""
    data = bytearray((DATA / "2015-01-01-3.json.gz").read_bytes())
    data[len(data) // 2] ^= 0x01
    src = tmp_path / "2015-01-01-3.json.gz"
    src.write_bytes(bytes(data))
    code, output = run(str(src), str(tmp_path / "out.parquet"), "--salvage")
    assert code == 1 and output.count("\n") == 1 and "Traceback" not in output, output
    assert f"Error: {src}: corrupt gzip data" in output and "none is kept" in output
    assert list(tmp_path.iterdir()) == [src]


def test_rejects_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(gzip.decompress((DATA / "2015-01-01-5.json.gz").read_bytes()) + b"not json\n")
    code, output = run(str(src), str(tmp_path / "out.parquet"))
    assert code == 0 and "5887 events" in output
    assert f"rejects: 1 (see {tmp_path / 'out.parquet.rejects.ndjson'})" in output


def test_help_explains() -> None:
    code, output = run("--help")
    assert code == 0
    for words in ("SRC", "DST", "--hour", "--salvage", "rejects", "1%", "sha1(local-part)@domain"):
        assert words in output


def test_every_command_is_reachable_through_the_lazy_group() -> None:
    """The CLI imports a command's module only when it runs: its name map must match the modules."""
    import importlib

    from gharchive_pipeline import cli as cli_package

    modules = set(cli_package._COMMAND_MODULES.values())
    declared = {
        command.name: module
        for module in modules
        for command in importlib.import_module(f"gharchive_pipeline.cli.{module}").COMMANDS
    }
    assert declared == cli_package._COMMAND_MODULES
