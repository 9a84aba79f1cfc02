"""`gharchive report`: a self-contained HTML page with its charts, rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.stats.report import render_report

from .test_warehouse_support import HOUR0, HOUR1, cached_rows, write_rows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse laid out as the Spark job writes it (one directory per source hour)."""
    wh = tmp_path_factory.mktemp("report") / "warehouse"
    for hour, name in ((HOUR0, "2015-01-01-0.json.gz"), (HOUR1, "2015-01-01-1.json.gz")):
        write_rows(cached_rows(name, hour), wh / "events" / hour.key / "part-0.parquet")
    return wh


def test_report_has_its_charts_and_is_self_contained(warehouse: Path) -> None:
    html = render_report(warehouse)
    assert html.startswith("<!DOCTYPE html>")
    titles = re.findall(r'<svg [^>]*aria-label="([^"]+)"', html)
    assert titles == [
        "Events per hour",
        "Commits per hour",
        "Bots per hour",
        "Events by repository",
        "Events by actor",
    ]
    assert "15,129" in html  # events, each once
    assert "KenanSulayman/heartbeat" in html  # top repository of these hours
    assert "PushEvent" in html and "share of actors" in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from anywhere


def test_report_command_writes_file(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        cli, ["report", "--home", str(warehouse.parent), "-o", str(out), "2015-01-01T01", "2015-01-01T01"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "7,427" in html and "01-01 01h" in html and "01-01 00h" not in html


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(warehouse: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(warehouse))
    shot = tmp_path / "report.png"
    base = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    run = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=900,2600", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0
    assert dom.stdout.count("<svg") == 5 and dom.stdout.count("<rect") > 40
    logs = (run.stderr + dom.stderr).splitlines()
    errors = [line for line in logs if "CONSOLE" in line or "Uncaught" in line]
    assert errors == []
