"""The package as a user gets it: `pip wheel .`, installed with its dependencies in a fresh venv, runs
the whole local chain (`gharchive run`) on two real hours from an empty folder, far from the checkout.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT
from tests.support import venvs

pytestmark = pytest.mark.slow

#: What a wheel is built from (a copy: the shared checkout is never written to by the build).
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the wheel built from this checkout (one per session)."""
    tmp = tmp_path_factory.mktemp("wheel")
    project = tmp / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=_IGNORE)
    venvs.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", project], cwd=tmp)
    [wheel] = (tmp / "dist").glob("gharchive_pipeline-*.whl")
    python = venvs.create(tmp / "venv")
    venvs.pip(python, wheel, cwd=tmp)
    return python.parent


def test_installed_cli_runs_two_real_hours_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "cwd"
    empty.mkdir()
    home = tmp_path / "home"
    gharchive = installed / "gharchive"
    probe = "import gharchive_pipeline as p; from gharchive_pipeline.normalize import native; "
    probe += "print(p.__file__, native.AVAILABLE)"
    where, native = venvs.run([installed / "python", "-c", probe], cwd=empty).split()
    assert Path(where).resolve().is_relative_to(installed.parent.resolve())
    assert not Path(where).resolve().is_relative_to(ROOT.resolve())
    assert native == "True", "the wheel carries no compiled normalize/_fastpath"

    venvs.run(
        [gharchive, "run", "2015-01-01T00", "2015-01-01T01", "--source", DATA, "--home", home], cwd=empty
    )
    stats = json.loads(venvs.run([gharchive, "stats", "--home", home, "--format", "json"], cwd=empty))
    by_hour = {row["hour"]: row for row in stats}
    assert sorted(by_hour) == ["2015-01-01T00", "2015-01-01T01"]
    # the real hour files' counts (data/gharchive/SOURCES.md), deduplicated
    assert [by_hour[h]["events"] for h in sorted(by_hour)] == [7702, 7427]
    assert [by_hour[h]["pushes"] for h in sorted(by_hour)] == [4280, 4150]
    assert [by_hour[h]["commits"] for h in sorted(by_hour)] == [18275, 25854]
    assert list(empty.iterdir()) == []  # nothing written where it was run from

    # a rerun changes nothing (idempotent), still from the installed package only
    venvs.run(
        [gharchive, "run", "2015-01-01T00", "2015-01-01T01", "--source", DATA, "--home", home], cwd=empty
    )
    again = json.loads(venvs.run([gharchive, "stats", "--home", home, "--format", "json"], cwd=empty))
    assert again == stats
