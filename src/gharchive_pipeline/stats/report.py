"""`gharchive report`: one self-contained HTML page (inline SVG, no scripts, no CDN) of the warehouse."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from ..hours import Hour
from . import charts
from .query import StatsTable, connect, over_time_by_type, stats

#: Event types drawn separately in the stacked chart; the rest are summed as "other".
TOP_TYPES = 6
#: Above this many hours, the time charts use days.
MAX_HOURLY_BARS = 96

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:820px;
color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}.sub{color:#666;margin:0 0 16px}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.tile{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
.tile b{display:block;font-size:20px}.tile span{color:#666;font-size:12px}
svg.chart{background:#fff;border:1px solid #e3e3e3;border-radius:6px;max-width:100%;height:auto}
svg .title{font-weight:600;font-size:13px}svg .tick,svg .legend{font-size:11px;fill:#555}
svg .grid{stroke:#eee}table{border-collapse:collapse;background:#fff;width:100%}
td,th{border-bottom:1px solid #eee;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:12px}
"""


def _label(value: Any, bucket: str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %Hh")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _key(value: Any) -> Any:
    """A bucket value comparable with the timeline: hours as aware UTC datetimes, days as dates."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _timeline(present: list[Any], bucket: str, start: Hour | None, end: Hour | None) -> list[Any]:
    """Every hour (or day) from the window's start to its end, where the window is open the first
    and last bucket with data: a missing hour keeps its slot on the axis instead of vanishing."""
    values = sorted({_key(v) for v in present})
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)

    def edge(hour: Hour | None, fallback: Any) -> Any:
        if hour is None:
            return fallback
        return hour.start if bucket == "hour" else hour.start.date()

    if not values and (start is None or end is None):
        return []
    first = edge(start, values[0] if values else None)
    last = edge(end, values[-1] if values else None)
    timeline = []
    while first <= last:
        timeline.append(first)
        first += step
    return timeline


def _series(
    rows: StatsTable, bucket: str, metric: str, timeline: list[Any]
) -> tuple[list[str], dict[str, list[float]]]:
    """Per bucket of `timeline`, per type (top TOP_TYPES by total, rest as "other") values of `metric`."""
    recs = rows.records()
    totals: dict[str, float] = defaultdict(float)
    for r in recs:
        totals[r["type"]] += r[metric] or 0
    top = [t for t, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TYPES]]
    index = {b: i for i, b in enumerate(timeline)}
    series: dict[str, list[float]] = {t: [0.0] * len(timeline) for t in [*top, "other"]}
    for r in recs:
        name = r["type"] if r["type"] in top else "other"
        slot = index.get(_key(r[bucket]))
        if slot is not None:
            series[name][slot] += float(r[metric] or 0)
    if not any(series["other"]):
        del series["other"]
    return [_label(b, bucket) for b in timeline], series


def _gap_note(timeline: list[Any], present: set[Any], bucket: str) -> str:
    missing = [b for b in timeline if b not in present]
    if not missing:
        return ""
    shown = ", ".join(_label(b, bucket) for b in missing[:12]) + (" ..." if len(missing) > 12 else "")
    return (
        f'<p class="note">No events for {len(missing)} of {len(timeline)} {bucket}s (shaded): '
        f"{escape(shown)}. GH Archive has no file for some hours, and an hour may not be loaded yet: "
        "<code>gharchive status</code> says what happened to each.</p>"
    )


def _bot_share(row: dict[str, Any] | None) -> float | None:
    """The CLI's bot measure (`bots` / `actors`, its `bot%` column): bot actors' share of a
    bucket's distinct actors; None for a bucket without data (a gap)."""
    if row is None:
        return None
    return float(row["bot_actor_share"] or 0)


def _tiles(total: dict[str, Any], hours: int) -> str:
    share = total.get("bot_actor_share") or 0.0
    bots = total.get("bot_actors") or 0
    items = [
        ("events", f"{total.get('events') or 0:,}"),
        ("commits pushed", f"{total.get('commits') or 0:,}"),
        ("pushes", f"{total.get('pushes') or 0:,}"),
        ("pushes of unknown size", f"{total.get('pushes_unknown_size') or 0:,}"),
        ("distinct actors", f"{total.get('actors') or 0:,}"),
        ("distinct repositories", f"{total.get('repos') or 0:,}"),
        ("bot actors (share of actors)", f"{bots:,} ({share * 100:.2f}%)"),
        ("event hours", f"{hours:,}"),
    ]
    cells = "".join(f'<div class="tile"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in items)
    return f'<div class="tiles">{cells}</div>'


def _type_table(by_type: StatsTable) -> str:
    cols = ("type", "events", "actors", "repos", "commits", "bot_actors")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(f'{r[c]:,}' if isinstance(r[c], int) else str(r[c]))}</td>" for c in cols)
        + "</tr>"
        for r in by_type.records()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_report(warehouse: Path, start: Hour | None = None, end: Hour | None = None) -> str:
    """The report's HTML text for event hours start..end (all loaded data when omitted)."""
    con = connect(warehouse)
    hourly = stats(warehouse, start=start, end=end, by="hour", con=con)
    n_hours = len(hourly.rows)
    hours_span = len(_timeline([r[0] for r in hourly.rows], "hour", start, end))
    bucket = "hour" if hours_span <= MAX_HOURLY_BARS else "day"
    over_time = over_time_by_type(con, bucket, start, end)
    overall = stats(warehouse, start=start, end=end, by="none", con=con).records()
    total = overall[0] if overall else {}
    by_type = stats(warehouse, start=start, end=end, by="type", con=con)
    repos = stats(warehouse, start=start, end=end, by="repo", limit=12, con=con).records()
    actors = stats(warehouse, start=start, end=end, by="actor", limit=12, con=con).records()
    per = stats(warehouse, start=start, end=end, by=bucket, con=con).records()

    present = {_key(r[bucket]) for r in per}
    timeline = _timeline(list(present), bucket, start, end)
    gaps = [b not in present for b in timeline]
    labels, events = _series(over_time, bucket, "events", timeline)
    _, commits = _series(over_time, bucket, "commits", timeline)
    per_bucket = {_key(r[bucket]): r for r in per}
    commits = {k: v for k, v in commits.items() if any(v)}
    first, last = (hourly.rows[0][0], hourly.rows[-1][0]) if hourly.rows else (None, None)
    span = f"{_label(first, 'hour')} to {_label(last, 'hour')} UTC" if first else "no data loaded"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>GH Archive activity: {escape(span)}</title><style>{_CSS}</style></head><body>",
        "<h1>GH Archive activity</h1>",
        f'<p class="sub">{escape(span)} &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC '
        f"&middot; duplicates removed (one row per event id and time)</p>",
        _tiles(total, n_hours),
        f"<h2>Events per {bucket} by type</h2>",
        charts.stacked_bars(labels, events, f"Events per {bucket}", gaps=gaps),
        _gap_note(timeline, present, bucket),
        f"<h2>Commits pushed per {bucket}</h2>",
        charts.stacked_bars(
            labels,
            commits or {"PushEvent": [0.0] * len(labels)},
            f"Commits per {bucket}",
            colors=(charts.PALETTE[2],),
            gaps=gaps,
        ),
        '<p class="note">Commits are summed from push sizes; pushes without a size (GitHub\'s slim '
        "PushEvents since late 2025) are counted as pushes of unknown size, not as zero commits.</p>",
        f"<h2>Bot actors per {bucket}</h2>",
        '<p class="note">Actors whose login marks a bot, as a share of the distinct actors: the '
        "<code>bots</code> / <code>actors</code> (<code>bot%</code>) of <code>gharchive stats</code>.</p>",
        charts.lines(
            labels,
            {"bot actors (share of actors)": [_bot_share(per_bucket.get(b)) for b in timeline]},
            f"Bots per {bucket}",
            percent=True,
        ),
        "<h2>Top repositories</h2>",
        charts.hbars([r["repo"] or "?" for r in repos], [r["events"] for r in repos], "Events by repository"),
        "<h2>Top actors</h2>",
        charts.hbars(
            [r["actor"] or "?" for r in actors],
            [r["events"] for r in actors],
            "Events by actor",
            color=charts.PALETTE[1],
        ),
        "<h2>By event type</h2>",
        _type_table(by_type),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(warehouse: Path, out: Path, start: Hour | None = None, end: Hour | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(warehouse, start, end), encoding="utf-8")
    return out
