"""Inline SVG charts: no JavaScript, no CDN, so the report is one self-contained file.

Pure functions from numbers to SVG text. Every bar and point carries a <title> (hover tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac")
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 48, 40
#: Labels carry the year ("2015-01-01 00h"): at most this many fit under the x axis.
MAX_AXIS_LABELS = 6


def _fmt(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.2f}%" if value < 0.1 else f"{value * 100:.1f}%"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


#: Multipliers of a power of ten an axis may end at: each quarter (the grid) stays a short number.
_NICE_STEPS = (1.0, 1.2, 1.6, 2.0, 2.4, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _nice_max(value: float) -> float:
    """The smallest round axis top >= value: a peak of 100,000 ends the axis at 100,000 (not
    200,000) and 130,000 at 160,000, so the bars fill most of the plot."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in _NICE_STEPS:
        top = step * power
        if top >= value * (1 - 1e-12):  # float noise must not push an exact round peak up a step
            return top
    return 10.0 * power


def _frame(
    title: str,
    body: list[str],
    legend: Sequence[str] = (),
    height: int = HEIGHT,
    colors: Sequence[str] = PALETTE,
) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="20" class="title">{escape(title)}</text>',
        *body,
    ]
    x = LEFT
    for i, name in enumerate(legend):  # one row under the title, left to right
        parts.append(
            f'<rect x="{x}" y="28" width="10" height="10" fill="{colors[i % len(colors)]}"/>'
            f'<text x="{x + 14}" y="37" class="legend">{escape(name)}</text>'
        )
        x += int(6.5 * len(name)) + 28
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(top: float, labels: Sequence[str], percent: bool, height: int = HEIGHT) -> list[str]:
    plot_h = height - TOP - BOTTOM
    out = []
    for i in range(5):
        v = top * i / 4
        y = height - BOTTOM - plot_h * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{_fmt(v, percent)}</text>"
        )
    n = max(len(labels), 1)
    step = max(1, math.ceil(n / MAX_AXIS_LABELS))
    slot = (WIDTH - LEFT - RIGHT) / n
    for i in range(0, len(labels), step):
        x = LEFT + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" class="tick" text-anchor="middle">'
            f"{escape(labels[i])}</text>"
        )
    return out


def stacked_bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    colors: Sequence[str] = PALETTE,
    gaps: Sequence[bool] = (),
) -> str:
    """One bar per label, stacked by series (e.g. events per hour by type). Labels flagged in
    `gaps` (no data at all, e.g. an hour GH Archive does not serve) get a shaded slot, so a missing
    hour reads as missing rather than as a quiet one."""
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axes(top, labels, False)
    for i, label in enumerate(labels):
        if i < len(gaps) and gaps[i]:
            body.append(
                f'<rect class="gap" x="{LEFT + slot * i:.1f}" y="{TOP}" width="{slot:.1f}" '
                f'height="{plot_h}" fill="#ececec"><title>{escape(label)}: no data</title></rect>'
            )
        y: float = HEIGHT - BOTTOM
        for k, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            if h <= 0:
                continue
            y -= h
            body.append(
                f'<rect class="bar" x="{LEFT + slot * i + slot * 0.1:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.8:.1f}" height="{h:.1f}" fill="{colors[k % len(colors)]}">'
                f"<title>{escape(label)} {escape(name)}: {values[i]:,.0f}</title></rect>"
            )
    return _frame(title, body, list(series) if len(series) > 1 else (), colors=colors)


def bars(labels: Sequence[str], values: Sequence[float], title: str, color: str = PALETTE[2]) -> str:
    return stacked_bars(labels, {title: values}, title, colors=(color,))


def lines(
    labels: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, *, percent: bool = False
) -> str:
    """One polyline per series with a dot per point (e.g. bot share per hour); a None value (no
    data for that label) breaks the line instead of drawing a fake zero."""
    top = _nice_max(
        max((v for s in series.values() for v in s if v is not None), default=0) * (100 if percent else 1)
    )
    top = top / 100 if percent else top
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axes(top, labels, percent)
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[int, float, float]]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((i, LEFT + slot * (i + 0.5), HEIGHT - BOTTOM - plot_h * v / top))
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for _, x, y in run)
                body.append(
                    f'<polyline class="line" points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
                )
            body += [
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(labels[i])} '
                f"{escape(name)}: {_fmt(values[i] or 0.0, percent)}</title></circle>"
                for i, x, y in run
            ]
    return _frame(title, body, list(series))


def hbars(labels: Sequence[str], values: Sequence[float], title: str, color: str = PALETTE[0]) -> str:
    """Horizontal bars, largest first (top repositories, top actors)."""
    row, label_w = 22, 260
    height = TOP + row * max(len(labels), 1) + 10
    top = float(max(values, default=0) or 1)
    width = WIDTH - label_w - RIGHT - 60
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        w = width * v / top
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="tick" text-anchor="end">{escape(label[:40])}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
            f"<title>{escape(label)}: {v:,.0f}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" class="tick">{_fmt(v)}</text>'
        )
    return _frame(title, body, height=height)
