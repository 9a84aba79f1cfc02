"""`gharchive stats` and `gharchive report`: figures from the local warehouse (HOME/warehouse)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from ..hours import Hour
from ..layout import Home
from .options import home_option, hour_arguments, window

_BY = ("hour", "day", "type", "repo", "actor")
#: The table format shows these (short headers, to fit 80 columns); csv/json have every column.
_TABLE_COLUMNS = {
    "events": "events",
    "actors": "actors",
    "repos": "repos",
    "pushes": "pushes",
    "commits": "commits",
    "pushes_unknown_size": "unsized",
    "bot_actors": "bots",
    "bot_actor_share": "bot%",
}


def _warehouse(home: Path) -> Path:
    """HOME's warehouse, without what killed writers left there (a live run's staging is kept)."""
    from ..load.local_warehouse import clean_leftovers, has_rows

    warehouse = Home(home).warehouse_dir
    clean_leftovers(warehouse)
    if not has_rows(warehouse):
        raise click.ClickException(f"no hours loaded in {warehouse} (run `gharchive run START END` first)")
    return warehouse


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _table_cell(value: Any) -> str:
    """A table cell as people read it: counts with thousands separators (csv/json keep raw numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


def _jsonable(value: Any) -> Any:
    return _cell(value) if isinstance(value, date | datetime) else value


@click.command("stats")
@hour_arguments(start_required=False)
@home_option()
@click.option(
    "--by",
    type=click.Choice(_BY),
    default="hour",
    show_default=True,
    help="Group by event hour or day (created_at, UTC), event type, repository or actor.",
)
@click.option(
    "--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many rows (default 20 for repo/actor).",
)
def stats_command(
    start: Hour | None, end: Hour | None, home: Path, by: str, fmt: str, limit: int | None
) -> None:
    """Events, actors, repos, pushes and commits for event hours START..END (default: everything).

    Figures count each event once (duplicates across GH Archive hours removed). `commits` sums push
    sizes; pushes without a size (slim 2025+ PushEvents) are counted in `pushes_unknown_size`.
    """
    from ..stats.query import stats

    first, last = window(start, end)
    table = stats(_warehouse(home), start=first, end=last, by=by, limit=limit)
    if fmt == "json":
        records = [{k: _jsonable(v) for k, v in r.items()} for r in table.records()]
        click.echo(json.dumps(records, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([[_cell(v) for v in row] for row in table.rows])
        click.echo(buf.getvalue(), nl=False)
    else:
        _print_table(table.columns, table.rows, f"gharchive stats by {by} ({home})")


def _print_table(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...], title: str) -> None:
    from rich import box
    from rich.table import Table

    from .output import console, esc

    keep = [i for i, c in enumerate(columns) if i == 0 or c in _TABLE_COLUMNS]
    out = Table(title=esc(title), box=box.SIMPLE, pad_edge=False)
    for i in keep:
        header = _TABLE_COLUMNS.get(columns[i], columns[i])
        out.add_column(header, justify="left" if i == 0 else "right", no_wrap=True, min_width=len(header))
    for row in rows:
        out.add_row(
            *(
                f"{row[i] * 100:.1f}"
                if columns[i] == "bot_actor_share" and row[i] is not None
                else esc(_table_cell(row[i]))  # a repository or login is data, not markup
                for i in keep
            )
        )
    console(pipe_width=200).print(out)  # piped: do not squeeze the table into 80 columns


@click.command("report")
@hour_arguments(start_required=False)
@home_option()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML file.",
)
def report_command(start: Hour | None, end: Hour | None, home: Path, output: Path) -> None:
    """A self-contained HTML report (inline SVG charts) of event hours START..END."""
    from ..stats.report import write_report

    first, last = window(start, end)
    path = write_report(_warehouse(home), output, first, last)
    click.echo(f"wrote {path}")


COMMANDS: list[click.Command] = [stats_command, report_command]
