"""The normalizer's mapping, pinned: a digest of what it writes for every bundled real hour.

`pipeline_version` (the column, and curated metadata) says which mapping wrote a row, and
`gharchive renormalize` re-processes hours written by an older one, so the version must move whenever
the output of any row can change. tests/normalize/test_mapping_version.py recomputes this digest and
fails until the version and the recorded digest agree with the code:

    python tools/mapping_digest.py          # print the version and digest of the code as it is
    python tools/mapping_digest.py --write  # record them (refused while the version has not moved)

The digest covers the curated schema (names, types) and every value of every row but the two that
vary by run (`ingested_at`) or by the version itself (`pipeline_version`), plus the rejects' text.
Rows are taken in sorted order: where a row sits in the file (its row group) is the writer's layout,
not the mapping.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOURS = ROOT / "data" / "gharchive"
RECORD = ROOT / "tests" / "data" / "mapping_digest.json"
#: Columns left out: they differ between two runs of the same mapping.
VARYING = ("ingested_at", "pipeline_version")


def bundled_hours() -> list[Path]:
    """Every bundled real hour file (the three eras, both servings of 2015-01-01-1, 2025's drift)."""
    return sorted(p for p in HOURS.rglob("*.json*") if p.is_file())


def _value(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def digest(hours: list[Path] | None = None) -> str:
    import pyarrow.parquet as pq

    from gharchive_pipeline.hours import Hour
    from gharchive_pipeline.normalize import normalize

    h = hashlib.sha256()
    fallback = Hour.parse("2015-01-01T00")  # for the partial files whose names carry no hour
    with tempfile.TemporaryDirectory() as tmp:
        for src in hours or bundled_hours():
            out, rejects = Path(tmp) / "events.parquet", Path(tmp) / "rejects.ndjson"
            rejects.unlink(missing_ok=True)
            try:
                normalize(src, out, rejects_path=rejects)
            except Exception:  # a file the normalizer refuses whole has no hour or is not an hour
                normalize(src, out, rejects_path=rejects, hour=fallback)
            table = pq.read_table(out)
            h.update(src.relative_to(HOURS).as_posix().encode())
            h.update(str(table.schema.remove_metadata()).encode())
            names = [name for name in table.column_names if name not in VARYING]
            columns = [[_value(v) for v in table.column(name).to_pylist()] for name in names]
            rows = sorted(json.dumps(row, default=str) for row in zip(*columns, strict=True))
            h.update(json.dumps([names, rows]).encode())
            if rejects.exists():
                h.update(rejects.read_bytes())
    return h.hexdigest()


def recorded() -> dict[str, str]:
    return dict(json.loads(RECORD.read_text())) if RECORD.exists() else {}


def main(argv: list[str] | None = None) -> int:
    from gharchive_pipeline import PIPELINE_VERSION

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"record into {RECORD.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    now = {"pipeline_version": PIPELINE_VERSION, "digest": digest()}
    print(json.dumps(now))
    if not args.write:
        return 0
    before = recorded()
    if before.get("pipeline_version") == PIPELINE_VERSION and before.get("digest") != now["digest"]:
        print(
            f"refused: the mapping changed but the version is still {PIPELINE_VERSION}: bump "
            "__version__ in src/gharchive_pipeline/__init__.py and version in pyproject.toml first",
            file=sys.stderr,
        )
        return 1
    RECORD.write_text(json.dumps(now, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
