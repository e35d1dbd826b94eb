"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN, nothing to download.

Two shapes cover the report page and the simulator's HTML: grouped columns over categories (cost vs
baseline by month) and grouped horizontal bars per label (saving by class, rates with their band
lines, latency). Each returns markup-safe SVG that scales to its container through ``viewBox``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from markupsafe import Markup, escape

# Colours that stay apart for the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str = ""


@dataclass(frozen=True)
class Marker:
    """A vertical reference line, e.g. the 20% and 60% escalation bands or the 98% format target."""

    value: float
    label: str
    color: str = "#667085"


def _fmt_default(value: float) -> str:
    return f"{value:,.2f}"


def dollars(value) -> str:
    """Dollars to the cent with the minus sign in front: −$0.16, not $-0.16."""
    return f"−${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts, offset = [], 0.0
    for index, item in enumerate(series):
        color = item.color or PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x + offset:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{x + offset + 16:.1f}" y="{y:.1f}">{escape(item.name)}</text>')
        offset += 30 + 7.5 * len(item.name)
    return "".join(parts)


def _empty(title: str, width: int, height: int) -> Markup:
    return Markup(f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" aria-label="{escape(title)}: no data">'
                  f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#667085" font-family="{FONT}">'
                  f'No data in this window</text></svg>')


def column_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
                 fmt: Callable[[float], str] = _fmt_default, width: int = 640, height: int = 260) -> Markup:
    """Grouped vertical bars, one group per category."""
    if not categories:
        return _empty(title, width, height)
    left, right, top, bottom = 64, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((value or 0) for item in series for value in item.values) if series else 0)
    group_w = plot_w / len(categories)
    bar_w = min(40.0, group_w * 0.8 / max(1, len(series)))
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for step in range(5):
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7ec"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#667085">{escape(fmt(value))}</text>')
    for index, category in enumerate(categories):
        start = left + group_w * index + (group_w - bar_w * len(series)) / 2
        for offset, item in enumerate(series):
            value = item.values[index] or 0
            bar_h = plot_h * value / peak
            color = item.color or PALETTE[offset % len(PALETTE)]
            parts.append(f'<rect x="{start + bar_w * offset:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar_w - 2:.1f}" '
                         f'height="{bar_h:.1f}" fill="{color}"><title>{escape(category)} · {escape(item.name)}: '
                         f'{escape(fmt(value))}</title></rect>')
        parts.append(f'<text x="{left + group_w * (index + 0.5):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                     f'{escape(category)}</text>')
    parts.append(_legend(series, left, 16))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, fmt: Callable[[float], str] = _fmt_default,
              maximum: float | None = None, markers: Sequence[Marker] = (), width: int = 640) -> Markup:
    """Grouped horizontal bars, one row per label; negative values draw left of zero in red."""
    row_h, bar_gap = 14 * max(1, len(series)) + 10, 2
    top, bottom, left, right = 30, 20, 150, 70
    height = top + bottom + row_h * max(1, len(labels))
    if not labels:
        return _empty(title, width, 120)
    values = [value for item in series for value in item.values if value is not None]
    low = min([0.0, *values])
    high = maximum if maximum is not None else _nice_max(max([0.0, *values]))
    span = (high - low) or 1.0
    plot_w = width - left - right

    def x_of(value: float) -> float:
        return left + plot_w * (value - low) / span

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for marker in markers:
        x = x_of(marker.value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{height - bottom}" stroke="{marker.color}" '
                     f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{height - 6}" text-anchor="middle" '
                     f'fill="{marker.color}">{escape(marker.label)}</text>')
    zero = x_of(0.0)
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 6}" y2="{height - bottom}" stroke="#98a2b3"/>')
    for row, label in enumerate(labels):
        y = top + row * row_h
        parts.append(f'<text x="{left - 8}" y="{y + row_h / 2:.1f}" text-anchor="end" dominant-baseline="middle">'
                     f'{escape(label)}</text>')
        for offset, item in enumerate(series):
            value = item.values[row]
            bar_y = y + 4 + offset * 14
            if value is None:
                parts.append(f'<text x="{zero + 4:.1f}" y="{bar_y + 10:.1f}" fill="#667085">n/a</text>')
                continue
            color = item.color or PALETTE[offset % len(PALETTE)]
            if value < 0:
                color = "#b42318"
            x0, x1 = sorted((zero, x_of(value)))
            parts.append(f'<rect x="{x0:.1f}" y="{bar_y:.1f}" width="{max(x1 - x0, 1):.1f}" height="{14 - bar_gap}" '
                         f'fill="{color}"><title>{escape(label)} · {escape(item.name)}: {escape(fmt(value))}</title></rect>'
                         f'<text x="{max(x1, zero) + 4:.1f}" y="{bar_y + 10:.1f}">{escape(fmt(value))}</text>')
    if len(series) > 1 or (series and series[0].name):
        parts.append(_legend(series, left, 16))
    parts.append("</svg>")
    return Markup("".join(parts))
