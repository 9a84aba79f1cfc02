"""Write Terraform's generated inputs from the project's one schema and one set of statistics views.

Terraform cannot import Python, so the BigQuery table schema and the view SQL are rendered into
`terraform/generated/` (committed, and checked fresh by tests/test_terraform.py):

  events_schema.json  schema.bigquery_schema(), i.e. `gharchive schema --format bigquery`
  stats_tables/<name>.json  schema of each materialized statistics table (stats.sql.stats_columns:
                      its time column, type, then every metric of stats.sql.METRICS)
  views/<name>.sql    stats.views.bigquery_views(), the dataset written as a placeholder
  views.json          {name: level}: level 0 reads only tables, level n reads views of lower levels,
                      so Terraform can create them in dependency order (one resource per level)

and, outside terraform/, the other files that repeat the schema's column list:

  docs/schema.md      the column table (schema.markdown_table())
  src/gharchive_pipeline/normalize/_fastpath_columns.h   the C kernel's column table
                      (normalize/native_columns.py says why it is checked in)

Usage: python tools/generate_terraform_inputs.py [--check]   (--check: exit 1 if files are stale)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "terraform" / "generated"
#: Terraform replaces this with `project.dataset` (see terraform/bigquery.tf).
DATASET_PLACEHOLDER = "__GHARCHIVE_DATASET__"
#: Levels terraform/bigquery.tf has a resource for.
MAX_VIEW_LEVEL = 2


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=False) + "\n"


def view_levels(views: Mapping[str, str], placeholder: str = DATASET_PLACEHOLDER) -> dict[str, int]:
    """Dependency level of every view: 0 when it reads no other view, else 1 + the deepest it reads."""
    reads = {
        name: {other for other in views if other != name and f"`{placeholder}.{other}`" in sql}
        for name, sql in views.items()
    }
    levels: dict[str, int] = {}

    def level(name: str, seen: tuple[str, ...]) -> int:
        if name in seen:
            raise ValueError(f"statistics views form a cycle: {' -> '.join((*seen, name))}")
        if name not in levels:
            levels[name] = max((level(dep, (*seen, name)) + 1 for dep in reads[name]), default=0)
        return levels[name]

    for name in views:
        level(name, ())
    too_deep = {n: lv for n, lv in levels.items() if lv > MAX_VIEW_LEVEL}
    if too_deep:
        raise ValueError(f"views {too_deep} nest deeper than terraform/bigquery.tf allows ({MAX_VIEW_LEVEL})")
    return levels


def render() -> dict[Path, str]:
    """Relative path under terraform/generated -> file content."""
    from gharchive_pipeline.schema import bigquery_schema
    from gharchive_pipeline.stats.sql import STATS_TABLES, stats_columns
    from gharchive_pipeline.stats.views import bigquery_views

    files: dict[Path, str] = {Path("events_schema.json"): _json(bigquery_schema())}
    for table in STATS_TABLES:
        files[Path("stats_tables") / f"{table}.json"] = _json(stats_columns(table))
    views = bigquery_views(DATASET_PLACEHOLDER)
    for name, sql in views.items():
        files[Path("views") / f"{name}.sql"] = sql.rstrip() + "\n"
    files[Path("views.json")] = _json(view_levels(views))
    return files


SCHEMA_DOC = Path("docs/schema.md")
NATIVE_HEADER = Path("src/gharchive_pipeline/normalize/_fastpath_columns.h")
_SCHEMA_DOC_HEAD = """# The events table

Generated from `src/gharchive_pipeline/schema.py` by `tools/generate_terraform_inputs.py`: do not edit.
`envelope` columns are the event's own top-level fields, `curated` ones facts pulled out of the payload
(null where the event's era or type does not carry them; `payload` keeps the whole record), `lineage`
ones say which file, era, run and pipeline version made the row.

"""


def render_outside() -> dict[Path, str]:
    """Path relative to the repository root -> content, for the derived files outside terraform/."""
    from gharchive_pipeline.normalize.native_columns import render_header
    from gharchive_pipeline.schema import markdown_table

    return {SCHEMA_DOC: _SCHEMA_DOC_HEAD + markdown_table(), NATIVE_HEADER: render_header()}


def _same(path: Path, text: str) -> bool:
    return path.is_file() and path.read_text() == text


def _listed(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def stale(out: Path = GENERATED) -> list[Path]:
    """Files that are missing or differ from what render() produces, plus leftover generated files."""
    wanted = render()
    bad = [rel for rel, text in wanted.items() if not _same(out / rel, text)]
    leftovers = [*_listed(out / "views", "*.sql"), *_listed(out / "stats_tables", "*.json")]
    bad += [rel for rel in (p.relative_to(out) for p in leftovers) if rel not in wanted]
    if out == GENERATED:
        bad += [
            Path("..") / ".." / rel for rel, text in render_outside().items() if not _same(ROOT / rel, text)
        ]
    return bad


def write(out: Path = GENERATED) -> list[Path]:
    """Write every generated file (removing ones no longer produced); returns what changed."""
    changed = stale(out)
    wanted = render() | {Path("..") / ".." / rel: text for rel, text in render_outside().items()}
    for rel in changed:
        target = out / rel
        if rel in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[rel])
        else:
            target.unlink()
    return changed


def _shown(rel: Path) -> str:
    """A path of stale()/write() (relative to terraform/generated) as seen from the repository root."""
    return os.path.normpath(Path("terraform") / "generated" / rel)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for rel in bad:
            print(f"stale: {_shown(rel)} (run: python tools/generate_terraform_inputs.py)")
        return 1 if bad else 0
    changed = write()
    print(f"{len(changed)} generated file(s) updated" + "".join(f"\n  {_shown(p)}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
