"""Console markup in data and paths is shown as text: a real hour whose events name a repository
`own/[/]`, a login `[link=https://evil.example/]x[/link]` and a login `:smile:`, run into a home
named `x[/]`. The run's final table and log line, `stats --by repo` and `stats --by actor` print
them literally (no crash on `[/]`, no hyperlink, no emoji), and so does `status`."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from tests.conftest import DATA

from .harness import run_cmd

H = Hour.parse("2015-01-01T00")
REPO = "own/[/]"
LINK = "[link=https://evil.example/]x[/link]"
EMOJI = ":smile:"
MANY = 500  # events per hostile name, so they top `stats --by repo/actor`


def _hostile_hour(src: Path) -> bytes:
    """The real hour with the first MANY events under REPO by LINK, the next MANY by EMOJI."""
    lines = gzip.decompress(src.read_bytes()).splitlines()
    for i in range(2 * MANY):
        doc: dict[str, Any] = json.loads(lines[i])
        if i < MANY:
            doc["repo"]["name"] = REPO
            doc["actor"]["login"] = LINK
        else:
            doc["actor"]["login"] = EMOJI
        lines[i] = json.dumps(doc).encode()
    return gzip.compress(b"\n".join(lines) + b"\n")


@pytest.fixture(scope="module")
def marked_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("markup")
    source = tmp / "src[/]"
    source.mkdir(parents=True)  # `src[` / `]`
    (source / H.file_name).write_bytes(_hostile_hour(DATA / "2015-01-01-0.json.gz"))
    home = tmp / "x[/]"
    return home, subprocess.run(run_cmd(home, source, H, H), capture_output=True, text=True, timeout=300)


def test_the_run_prints_a_home_named_like_markup(
    marked_home: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    home, done = marked_home
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stdout = done.stdout
    assert f"log: {home}/logs/" in stdout.replace("\n", "")
    assert f"({home})" in stdout.replace("\n", "")  # the final table's title


@pytest.mark.parametrize(("by", "shown"), [("repo", [REPO]), ("actor", [LINK, EMOJI])])
def test_stats_show_names_as_text(
    marked_home: tuple[Path, subprocess.CompletedProcess[str]], by: str, shown: list[str]
) -> None:
    home, _ = marked_home
    result = CliRunner().invoke(cli, ["stats", "--home", str(home), "--by", by, "--limit", "5"])
    assert result.exit_code == 0, result.output
    for name in shown:
        assert name in result.output
    assert "\x1b]8;" not in result.output  # no terminal hyperlink
    assert f"({home})" in result.output.replace("\n", "")


def test_status_shows_the_home_as_text(marked_home: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    home, _ = marked_home
    result = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert f"({home})" in result.output.replace("\n", "")
