"""`gharchive report`: a self-contained HTML page with its charts, rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.stats import charts
from gharchive_pipeline.stats.report import render_report

from ..support import standins
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse loaded by the local day loader from two real hours."""
    from gharchive_pipeline.load.local_load import LocalDayLoader

    home = tmp_path_factory.mktemp("report") / "home"
    for hour, name in ((HOUR0, "2015-01-01-0.json.gz"), (HOUR1, "2015-01-01-1.json.gz")):
        put_curated(home / "curated", hour, cached_rows(name, hour))
    LocalDayLoader(home).rebuild(HOUR0.start.date())
    return home / "warehouse"


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
    assert "PushEvent" in html and "bot actors (share of actors)" in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from anywhere


def test_report_command_writes_file(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        cli, ["report", "--home", str(warehouse.parent), "-o", str(out), "2015-01-01T01", "2015-01-01T01"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "7,427" in html and "2015-01-01 01h" in html and "2015-01-01 00h" not in html


@pytest.mark.slow
def test_report_renders_in_headless_chromium(warehouse: Path, tmp_path: Path) -> None:
    standins.require(CHROMIUM, "headless Chromium", "apt-get install chromium (.ci/run installs it)")
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


@pytest.fixture(scope="module")
def gapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real hours 00, 01 and 03: hour 02 is missing, as when GH Archive serves no file for it."""
    from gharchive_pipeline.load.local_load import LocalDayLoader

    home = tmp_path_factory.mktemp("gapped") / "home"
    for name in ("2015-01-01-0.json.gz", "2015-01-01-1.json.gz", "2015-01-01-3.json.gz"):
        hour = Hour.parse(name.removesuffix(".json.gz"))
        put_curated(home / "curated", hour, cached_rows(name, hour))
    LocalDayLoader(home).rebuild(HOUR0.start.date())
    return home / "warehouse"


def _gap_titles(html: str) -> list[str]:
    return re.findall(r'class="gap"[^>]*><title>([^<]+)</title>', html)


def test_a_missing_hour_keeps_its_slot_and_is_named(gapped: Path) -> None:
    html = render_report(gapped)
    ticks = re.findall(r'class="tick" text-anchor="middle">([^<]+)<', html)
    assert ticks[:4] == ["2015-01-01 00h", "2015-01-01 01h", "2015-01-01 02h", "2015-01-01 03h"]  # continuous
    assert _gap_titles(html) == ["2015-01-01 02h: no data"] * 2  # events and commits charts
    assert "No events for 1 of 4 hours (shaded): 2015-01-01 02h." in html
    bots = html[html.index('aria-label="Bots per hour"') :]
    bots = bots[: bots.index("</svg>")]
    # a line over 00-01, then a lone dot at 03; nothing drawn at 02 (no fake zero)
    assert bots.count("<polyline") == 1 and bots.count("<circle") == 3


def test_a_requested_window_shows_its_empty_hours(gapped: Path) -> None:
    html = render_report(gapped, Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T04"))
    assert _gap_titles(html) == ["2015-01-01 02h: no data", "2015-01-01 04h: no data"] * 2
    assert "No events for 2 of 5 hours" in html


def test_no_gap_note_when_every_hour_has_data(warehouse: Path) -> None:
    html = render_report(warehouse)
    assert not _gap_titles(html) and "No events for" not in html


def test_line_chart_breaks_at_missing_points() -> None:
    svg = charts.lines(["a", "b", "c", "d"], {"s": [0.1, None, 0.2, 0.3]}, "t", percent=True)
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3  # "a" alone, then c-d


@pytest.mark.parametrize(
    ("peak", "top"),
    [(100_000, 100_000), (100_001, 120_000), (7_702, 8_000), (15_129, 16_000), (0.0123, 0.016), (1, 1)],
)
def test_axis_ends_just_above_the_peak(peak: float, top: float) -> None:
    """A peak of 100,000 draws an axis to 100,000, not 200,000: the bars fill the plot."""
    svg = charts.bars(["a", "b"], [peak / 2, peak], "t")
    ticks = re.findall(r'class="tick" text-anchor="end">([^<]+)<', svg)
    assert ticks[-1] == charts._fmt(top)
    heights = [float(h) for h in re.findall(r'class="bar"[^>]* height="([0-9.]+)"', svg)]
    assert max(heights) >= 0.74 * (charts.HEIGHT - charts.TOP - charts.BOTTOM)


def test_report_bot_measure_is_the_cli_bots_column(warehouse: Path) -> None:
    """The report's bot figures are the CLI's: `bots` (bot actors) and `bot%` (bots / actors)."""
    result = CliRunner().invoke(
        cli, ["stats", "--home", str(warehouse.parent), "--by", "day", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (day,) = json.loads(result.output)
    html = render_report(warehouse)
    assert f"{day['bot_actors']:,} ({day['bot_actor_share'] * 100:.2f}%)" in html
    assert "share of events" not in html


def test_cli_stats_table_has_thousands_separators(warehouse: Path) -> None:
    result = CliRunner().invoke(cli, ["stats", "--home", str(warehouse.parent), "--by", "day"])
    assert result.exit_code == 0, result.output
    assert "15,129" in result.output and "15129" not in result.output
    csv_out = CliRunner().invoke(
        cli, ["stats", "--home", str(warehouse.parent), "--by", "day", "--format", "csv"]
    )
    assert "15129" in csv_out.output  # machine formats keep raw numbers
