"""Fresh virtualenvs for install tests: what a user (`pip install gharchive-pipeline`) or the Cloud
Functions build (`pip install -r requirements.txt`) gets, away from the project's own .venv.

Downloads are kept in a wheelhouse (GHARCHIVE_TEST_WHEELHOUSE, default
~/.cache/gharchive-pipeline/wheelhouse): installs run offline from it, and only what it lacks is
downloaded. (pip's own HTTP cache is not enough: responses that forbid caching, as behind some
proxies, are downloaded again on every install.) PYTHON* variables that could leak this checkout
onto the new interpreter's path are removed.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

#: One venv install may download the dependency tree once; generous, never a timing assertion.
INSTALL_TIMEOUT_S = 900


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would import the checkout instead of the install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "GHARCHIVE_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return {**env, **extra}


def create(path: Path) -> Path:
    """A new venv at `path` (no system site-packages); returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def run(cmd: list[str | Path], *, cwd: Path, timeout: float = INSTALL_TIMEOUT_S, **env: str) -> str:
    """Run a command, fail the test with its output if it fails; returns stdout."""
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def wheelhouse() -> Path:
    path = Path(
        os.environ.get("GHARCHIVE_TEST_WHEELHOUSE", Path.home() / ".cache/gharchive-pipeline/wheelhouse")
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def pip(python: Path, *args: str | Path, cwd: Path) -> str:
    """`pip install ARGS` in the venv of `python` from the wheelhouse alone; only when that cannot
    satisfy them, `pip download` what is missing (with setuptools and wheel, which building a local
    project needs) and install again."""
    house = wheelhouse()
    quiet = ["-q", "--disable-pip-version-check"]
    # --no-compile: byte-compiling every dependency is most of an install's CPU, and nothing here needs it
    offline = [
        python,
        "-m",
        "pip",
        "install",
        *quiet,
        "--no-compile",
        "--no-index",
        "--find-links",
        house,
        *args,
    ]
    try:
        return run(offline, cwd=cwd)
    except AssertionError:
        # apart: a hashed requirements file puts pip in --require-hashes mode for the whole call
        run([python, "-m", "pip", "download", *quiet, "-d", house, "setuptools>=77", "wheel"], cwd=cwd)
        run([python, "-m", "pip", "download", *quiet, "-d", house, *args], cwd=cwd)
        return run(offline, cwd=cwd)
