"""Small charts drawn on the server as inline SVG (no JavaScript, no outside host): horizontal bars against
reference lines, a curve with marked points, and dots on one axis.

Every chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>``, followed by a ``<table>`` holding the
same numbers (for screen readers and for anyone who wants the figures). All text is escaped with markupsafe.
Colours are presentation attributes and CSS classes (``site.css``), never ``style=`` attributes, so the strict
CSP of the HTML pages holds. Each drawn value carries ``data-value``, each axis tick ``data-tick``: what tests
(and curious readers) compare with the stored results.

Scales: ``linear``, or ``log`` (log10 of 1 + value, so 0 — "not detected" — sits on the axis origin and
10, 100, 1000 … are nearly evenly spaced: for counts that span orders of magnitude, such as E. coli).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 560
LABEL_W = 170  # room for the bars' labels on the left
RIGHT = 70  # room for the value printed after a bar
ROW = 30
AXIS_H = 34
TOP = 24  # room for the reference lines' labels


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css: str = ""  # an extra class: "pass", "fail", "highlight", …


@dataclass(frozen=True)
class Ref:
    """A reference line across the value axis (a guideline, a threshold, a chosen scale)."""

    value: float
    label: str
    css: str = ""


def number(v: float) -> str:
    """A short, exact-looking form of a value for labels: 4 significant digits, thousands grouped."""
    if v is None or not math.isfinite(v):
        return "–"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    text = f"{v:.4g}"
    return text if "e" not in text else f"{v:.2e}"


class Axis:
    """A value range mapped onto ``[x0, x1]`` pixels, with its ticks."""

    def __init__(self, lo: float, hi: float, x0: float, x1: float, log: bool = False):
        self.log, self.x0, self.x1 = log, x0, x1
        if log:
            lo, hi = 0.0, 10 ** math.ceil(math.log10(max(hi, 1.0) + 1) - 1e-12)
            if hi < 10:
                hi = 10.0
        else:
            lo, hi = nice_range(lo, hi)
        self.lo, self.hi = lo, hi

    def _t(self, v: float) -> float:
        return math.log10(1 + max(v, 0.0)) if self.log else v

    def x(self, v: float) -> float:
        v = min(max(v, self.lo), self.hi)
        span = self._t(self.hi) - self._t(self.lo)
        return round(self.x0 + (self._t(v) - self._t(self.lo)) / span * (self.x1 - self.x0), 2)

    def ticks(self) -> list[float]:
        if self.log:
            return [0.0] + [10.0**k for k in range(0, round(math.log10(self.hi)) + 1)]
        step = nice_step(self.hi - self.lo)
        n = round((self.hi - self.lo) / step)
        return [round(self.lo + k * step, 10) for k in range(n + 1)]


def nice_step(span: float, count: int = 5) -> float:
    raw = span / count if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def nice_range(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` widened to whole steps (a flat range gets some room)."""
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    step = nice_step(hi - lo)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _open(chart_id: str, height: float, title: str, desc: str, css: str) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css)}" viewBox="0 0 {WIDTH} {height:g}" '
        f'width="{WIDTH}" height="{height:g}" role="img" aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def _x_axis(axis: Axis, y: float, label: str) -> list[str]:
    out = [f'<line class="axis" x1="{axis.x0}" x2="{axis.x1}" y1="{y}" y2="{y}" stroke="#555"/>']
    for t in axis.ticks():
        x = axis.x(t)
        out.append(
            f'<g class="tick" data-tick="{t!r}"><line x1="{x}" x2="{x}" y1="{y}" y2="{y + 5}" stroke="#555"/>'
            f'<text x="{x}" y="{y + 17}" text-anchor="middle" font-size="11" fill="#333">{escape(number(t))}</text></g>'
        )
    mid = (axis.x0 + axis.x1) / 2
    out.append(f'<text class="axis-label" x="{mid}" y="{y + 31}" text-anchor="middle" font-size="12" fill="#333">')
    out.append(f"{escape(label)}</text>")
    return out


def _levels(refs) -> int:
    """Rows of reference labels above the plot: neighbouring labels take turns so they do not overlap."""
    return 3 if len(refs) > 2 else 2


def _top(refs) -> float:
    return TOP + 11 * (_levels(refs) - 2)


def _ref_line(axis: Axis, ref: Ref, y0: float, y1: float, k: int, levels: int) -> str:
    x = axis.x(ref.value)
    anchor = "end" if x < (axis.x0 + axis.x1) / 2 else "start"  # outwards: labels on one side fan apart
    room = 6.5 * len(ref.label)  # about 6.5 px a character at 11 px
    if anchor == "start" and x + room > WIDTH:
        anchor = "end"
    elif anchor == "end" and x - room < 0:
        anchor = "start"
    dx = 3 if anchor == "start" else -3
    ty = y0 - 16 - (k % levels) * 11
    return (
        f'<g class="ref {escape(ref.css)}"><line class="threshold" data-value="{ref.value!r}" x1="{x}" x2="{x}" '
        f'y1="{y0 - 4}" y2="{y1}" stroke="#b00020" stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{x + dx}" y="{ty + 11}" text-anchor="{anchor}" font-size="11" fill="#b00020">'
        f"{escape(ref.label)}</text></g>"
    )


def _table(caption: str, headers: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    out = [f'<table class="chart-data"><caption>{escape(caption)}</caption>', "<thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in headers]
    out.append("</tr></thead><tbody>")
    out += [f'<tr><th scope="row">{escape(a)}</th><td>{escape(b)}</td></tr>' for a, b in rows]
    out.append("</tbody></table>")
    return out


def _rows(chart_id, css, items, refs, axis, title, desc, value_label, headers, row) -> Markup:
    """A chart of one row per item above a value axis (``row(axis, item, y)`` draws one), with reference lines
    across the rows and the table of the same numbers after it."""
    top = _top(refs)
    bottom = top + ROW * len(items)
    out = _open(chart_id, bottom + AXIS_H + 4, title, desc, css)
    out += [row(axis, b, top + k * ROW) for k, b in enumerate(items)]
    out += [_ref_line(axis, r, top, bottom, k, _levels(refs)) for k, r in enumerate(refs)]
    out += _x_axis(axis, bottom, value_label)
    out.append("</svg>")
    rows = [(b.label, number(b.value)) for b in items] + [(r.label, number(r.value)) for r in refs]
    return Markup("".join(out + _table(title, headers, rows)))


def _row_label(b: Bar, y: float) -> str:
    return (
        f'<text x="{LABEL_W - 8}" y="{y + 4}" text-anchor="end" font-size="12" fill="#1b1b1b">{escape(b.label)}</text>'
    )


def _bar(axis: Axis, b: Bar, y: float) -> str:
    base = axis.x(max(axis.lo, 0.0))
    x = axis.x(b.value)
    left, width = min(base, x), abs(x - base)
    return (
        f'<g class="bar-row {escape(b.css)}">{_row_label(b, y + ROW / 2)}'
        f'<rect class="bar" data-value="{b.value!r}" x="{left}" y="{y + 5}" width="{width:.2f}" '
        f'height="{ROW - 10}" fill="#1f6feb"/>'
        f'<text x="{max(left + width, base) + 4}" y="{y + ROW / 2 + 4}" font-size="12" fill="#1b1b1b">'
        f"{escape(number(b.value))}</text></g>"
    )


def _dot(axis: Axis, b: Bar, y: float) -> str:
    y, x = y + ROW / 2, axis.x(b.value)
    return (
        f'<g class="dot-row {escape(b.css)}">{_row_label(b, y)}'
        f'<line x1="{axis.x0}" x2="{axis.x1}" y1="{y}" y2="{y}" stroke="#ddd"/>'
        f'<circle class="dot" data-value="{b.value!r}" cx="{x}" cy="{y}" r="6" fill="#0b3d91"/>'
        f'<text x="{x}" y="{y - 9}" text-anchor="middle" font-size="11" fill="#1b1b1b">'
        f"{escape(number(b.value))}</text></g>"
    )


def bars(
    chart_id: str,
    items: list[Bar],
    *,
    title: str,
    desc: str,
    value_label: str,
    headers: tuple[str, str],
    refs: list[Ref] = (),
    log: bool = False,
    domain: tuple[float, float] | None = None,
) -> Markup:
    """Horizontal bars (one per item) on a shared value axis, with reference lines across them."""
    values = [b.value for b in items] + [r.value for r in refs]
    lo, hi = domain or (min(0.0, *values), max(0.0, *values))
    axis = Axis(lo, hi, LABEL_W, WIDTH - RIGHT, log=log)
    return _rows(chart_id, "bars", items, refs, axis, title, desc, value_label, headers, _bar)


def curve(
    chart_id: str,
    points: list[tuple[float, float]],
    *,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    headers: tuple[str, str],
    mark_x: Ref | None = None,
    refs_y: list[Ref] = (),
) -> Markup:
    """A line through ``points`` (x, y) with a dot at each, a vertical mark (the chosen x) and horizontal
    reference lines (thresholds of y)."""
    height = 260
    plot_top, plot_bottom = TOP, height - AXIS_H - 4
    xs = [x for x, _ in points] + ([mark_x.value] if mark_x else [])
    ys = [y for _, y in points] + [r.value for r in refs_y]
    ax = Axis(min(xs), max(xs), 60, WIDTH - 20)
    lo, hi = nice_range(min(0.0, *ys), max(ys))
    ay = Axis(lo, hi, plot_bottom, plot_top)  # pixels grow downwards: the range is mapped upside down
    out = _open(chart_id, height, title, desc, "curve")
    for t in ay.ticks():
        y = ay.x(t)
        out.append(
            f'<g class="tick y" data-tick="{t!r}"><line x1="{ax.x0 - 5}" x2="{ax.x1}" y1="{y}" y2="{y}" '
            f'stroke="#ddd"/><text x="{ax.x0 - 8}" y="{y + 4}" text-anchor="end" font-size="11" fill="#333">'
            f"{escape(number(t))}</text></g>"
        )
    out.append(
        f'<text class="axis-label" x="12" y="{(plot_top + plot_bottom) / 2}" font-size="12" fill="#333" '
        f'text-anchor="middle" transform="rotate(-90 12 {(plot_top + plot_bottom) / 2})">{escape(y_label)}</text>'
    )
    for r in refs_y:
        y = ay.x(r.value)
        out.append(
            f'<g class="ref {escape(r.css)}"><line class="threshold" data-value="{r.value!r}" x1="{ax.x0}" '
            f'x2="{ax.x1}" y1="{y}" y2="{y}" stroke="#b00020" stroke-dasharray="5 3"/>'
            f'<text x="{ax.x1}" y="{y - 4}" text-anchor="end" font-size="11" fill="#b00020">'
            f"{escape(r.label)}</text></g>"
        )
    if mark_x:
        x = ax.x(mark_x.value)
        out.append(
            f'<g class="ref chosen"><line class="mark" data-value="{mark_x.value!r}" x1="{x}" x2="{x}" '
            f'y1="{plot_top}" y2="{plot_bottom}" stroke="#0b3d91" stroke-width="2"/>'
            f'<text x="{x + 4}" y="{plot_top - 6}" font-size="11" fill="#0b3d91">{escape(mark_x.label)}</text></g>'
        )
    path = " ".join(f"{ax.x(x)},{ay.x(y)}" for x, y in points)
    out.append(f'<polyline class="line" points="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    out += [
        f'<circle class="dot" data-x="{x!r}" data-value="{y!r}" cx="{ax.x(x)}" cy="{ay.x(y)}" r="4" fill="#1f6feb"/>'
        for x, y in points
    ]
    out += _x_axis(ax, plot_bottom, x_label)
    out.append("</svg>")
    rows = [(number(x), number(y)) for x, y in points]
    return Markup("".join(out + _table(title, headers, rows)))


def dots(
    chart_id: str,
    items: list[Bar],
    *,
    title: str,
    desc: str,
    value_label: str,
    headers: tuple[str, str],
    refs: list[Ref] = (),
    domain: tuple[float, float] | None = None,
) -> Markup:
    """Dots on one value axis (a value among its thresholds), each on its own row with its label."""
    values = [b.value for b in items] + [r.value for r in refs]
    lo, hi = domain or (min(values), max(values))
    axis = Axis(lo, hi, LABEL_W, WIDTH - RIGHT)
    return _rows(chart_id, "dots", items, refs, axis, title, desc, value_label, headers, _dot)
