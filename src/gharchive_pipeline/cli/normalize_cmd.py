"""`gharchive normalize SRC DST`: one GH Archive hour file -> one parquet file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..hours import Hour, HourError
from ..normalize import NormalizeError, NormalizeResult, native, normalize
from .output import console as output_console
from .output import text_column

log = logging.getLogger(__name__)


def _hour(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Hour | None:
    if value is None:
        return None
    try:
        return Hour.parse(value)
    except HourError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("normalize")
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--hour",
    callback=_hour,
    metavar="YYYY-MM-DDTHH",
    help="The GH Archive hour of SRC (default: read from its name, e.g. 2015-01-01-15.json.gz).",
)
@click.option(
    "--salvage",
    is_flag=True,
    help="On a gzip stream cut short, keep the complete lines before the cut instead of failing "
    "(a stream with corrupt data or a wrong CRC is refused even so: no line of it is known intact).",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where refused lines go (default: DST.rejects.ndjson, only written if there are any).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes that parse and map (0: in-process, the fastest with the native fast path; "
    "2 helps only where it is not built).",
)
def normalize_command(
    src: Path, dst: Path, hour: Hour | None, salvage: bool, rejects_path: Path | None, workers: int
) -> None:
    """Normalize one GH Archive hour SRC into the parquet file DST.

    SRC is a GH Archive hour as served (gzip NDJSON) or plain NDJSON, of any era (2011 backfill,
    2012-2014 Timeline, 2015+ Events); DST gets one zstd parquet file with the events schema
    (`gharchive schema`). Commit e-mails are hashed as sha1(local-part)@domain.

    Lines that are not usable events (not JSON, a field of the wrong type or out of range, an
    impossible created_at) go to a rejects file beside DST with their reason; the run fails if more
    than 1% are bad. A damaged or empty file fails with a message and writes nothing (see
    --salvage), and so do paths that coincide (SRC, DST and the rejects file must be three files).

    \b
    Example:
      gharchive normalize 2015-01-01-15.json.gz events.parquet
      gharchive normalize dump.json out.parquet --hour 2015-01-01T15
    """
    try:
        if not src.exists():
            raise NormalizeError(f"{src}: no such file")
        with _progress_bar(src.name, src.stat().st_size) as progress:
            result = normalize(
                src,
                dst,
                hour=hour,
                salvage=salvage,
                rejects_path=rejects_path,
                workers=workers,
                progress=progress,
            )
    except NormalizeError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # an output that cannot be written (read-only place, /proc, full disk)
        raise click.ClickException(f"{exc.filename or dst}: cannot write ({exc.strerror or exc})") from None
    click.echo(summary(result))


@contextmanager
def _progress_bar(name: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A bar on stderr when it is a terminal; when it is not, nothing, not even rich's import
    (~50 ms of a 1.8 s hour)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    console = output_console(stderr=True)
    columns = (
        text_column("normalizing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(name, total=total)
        yield lambda done: bar.update(task, completed=done)


def summary(result: NormalizeResult) -> str:
    eras = ", ".join(f"{era} {n}" for era, n in sorted(result.eras.items()))
    lines = [
        f"hour {result.hour.key}: {result.events} events written to {result.output}",
        f"rejects: {result.rejects}" + (f" (see {result.rejects_path})" if result.rejects_path else ""),
        f"era: {result.era}" + (f" ({eras})" if len(result.eras) > 1 else ""),
        f"seconds: {result.seconds:.2f}",
        f"mapper: {mapper_summary(result)}",
    ]
    if result.damage:
        lines.append(
            f"salvaged: {result.damage}; kept the {result.events} events before the damage"
            + (f", dropped {result.damaged_lines} damaged lines" if result.damaged_lines else "")
        )
    return "\n".join(lines)


def mapper_summary(result: NormalizeResult) -> str:
    """Which mapper did the work: a drop in the native share (format drift, a build without the
    module) costs ~3.5x the time, so it is said every run."""
    if not native.AVAILABLE:
        return "Python only (the native fast path is not built or GHARCHIVE_NATIVE=0)"
    share = f" ({result.native_events / result.events:.1%})" if result.events else ""
    return f"native C for {result.native_events} of {result.events} events{share}, Python for the rest"


COMMANDS: list[click.Command] = [normalize_command]
