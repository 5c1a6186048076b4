"""The benchmark results as SVG charts, written by dev/bench-cold beside RESULTS.md (and from it with
--charts-only): cold-start.svg (init + first invocation and peak RSS of every route function against
the authenticated floor, with issue 22's target lines), peers.svg (get-market beside the Node.js and
Python peers) and round-trips.svg (sequential round trips per function at the AWS-like latency).

Hand-written SVG, no plotting library: horizontal bars with their value written beside them, on an
explicit white background so that they read the same in GitHub's light and dark modes. Checked by
dev/test_bench_charts.py."""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Mapping, Protocol

from bench_common import AUTH_FLOOR_TARGETS, PEER_GOAL

# Colours: within target, over target, a reference (the floor, the peers); dark enough on white.
PASS, FAIL, REFERENCE = "#3b6ea8", "#c8443a", "#8c8c8c"
INK, GRID, BACKGROUND = "#222222", "#dddddd", "#ffffff"
HALO = f'paint-order="stroke" stroke="{BACKGROUND}" stroke-width="3"'  # text stays legible over a line
FONT = "font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\""

WIDTH = 860
TITLE_HEIGHT, LEGEND_HEIGHT, ROW_HEIGHT, AXIS_HEIGHT = 40, 40, 26, 44
LABEL_WIDTH, VALUE_WIDTH, PANEL_GAP = 120, 86, 24

ROUND_TRIP_LIMIT = 2  # tests/roundtrips.rs: every route makes at most two sequential rounds of AWS calls

CHARTS = ("cold-start.svg", "peers.svg", "round-trips.svg")


class Measured(Protocol):
    """What a chart reads of a function's figures (bench_cold.Figures, or a row of RESULTS.md)."""
    total: float  # init + first invocation, ms
    rss: float    # peak RSS, bytes


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    colour: str


@dataclass(frozen=True)
class Line:
    """A vertical line across a panel: a target or a limit."""
    value: float
    text: str


@dataclass(frozen=True)
class Panel:
    axis: str
    bars: list[Bar]
    lines: list[Line]


def chart(title: str, panels: list[Panel], legend: list[tuple[str, str]]) -> str:
    """An SVG of `panels` side by side under `title`, one bar a row, each bar's value beside it."""
    rows = max(len(p.bars) for p in panels)
    height = TITLE_HEIGHT + LEGEND_HEIGHT + rows * ROW_HEIGHT + AXIS_HEIGHT + 12
    panel_width = (WIDTH - PANEL_GAP * (len(panels) + 1)) / len(panels)
    top = TITLE_HEIGHT + LEGEND_HEIGHT
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" {FONT} font-size="12" fill="{INK}">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{WIDTH}" height="{height}" fill="{BACKGROUND}"/>',
           f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{escape(title)}</text>']
    x = PANEL_GAP
    for text, colour in legend:
        out += [f'<rect x="{x}" y="{TITLE_HEIGHT}" width="12" height="12" fill="{colour}"/>',
                f'<text x="{x + 17}" y="{TITLE_HEIGHT + 10}">{escape(text)}</text>']
        x += 30 + 7 * len(text)
    for i, panel in enumerate(panels):
        out += panel_svg(panel, PANEL_GAP + i * (panel_width + PANEL_GAP), top, panel_width)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def panel_svg(panel: Panel, left: float, top: float, width: float) -> list[str]:
    """One panel: the function names, the bars on a linear axis from 0, the lines, the axis label."""
    plot_left, plot_width = left + LABEL_WIDTH, width - LABEL_WIDTH - VALUE_WIDTH
    bottom = top + len(panel.bars) * ROW_HEIGHT
    step, ticks = axis_ticks(max([b.value for b in panel.bars] + [line.value for line in panel.lines]))
    scale = plot_width / (step * ticks)
    out, labels = [], []  # the labels last: over the lines
    for k in range(ticks + 1):
        x = plot_left + k * step * scale
        out += [f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>',
                f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="11">{k * step:g}</text>']
    for row, bar in enumerate(panel.bars):
        y = top + row * ROW_HEIGHT
        length = max(bar.value, 0.0) * scale
        out.append(f'<rect class="bar" x="{plot_left}" y="{y + 4}" width="{length:.1f}" height="{ROW_HEIGHT - 8}" '
                   f'fill="{bar.colour}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>')
        labels += [f'<text x="{plot_left - 6}" y="{y + ROW_HEIGHT / 2 + 4}" text-anchor="end">{escape(bar.label)}</text>',
                   f'<text x="{plot_left + length + 4:.1f}" y="{y + ROW_HEIGHT / 2 + 4}" {HALO}>{escape(bar.text)}</text>']
    for i, line in enumerate(panel.lines):  # their labels below the axis and above the bars, by turns
        x = plot_left + line.value * scale
        label_y = bottom + 28 if i % 2 == 0 else top - 8
        out.append(f'<line class="target" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="{INK}" '
                   'stroke-width="1.5" stroke-dasharray="5 3"/>')
        labels.append(f'<text x="{x:.1f}" y="{label_y}" text-anchor="middle" font-size="11" font-style="italic" '
                      f'{HALO}>{escape(line.text)}</text>')
    out += labels
    out.append(f'<text x="{plot_left + plot_width / 2:.1f}" y="{bottom + 42}" text-anchor="middle" '
               f'font-weight="bold">{escape(panel.axis)}</text>')
    return out


def axis_ticks(largest: float) -> tuple[float, int]:
    """A round step (1, 2 or 5 × 10^k) and the count of steps that reach past `largest`, 4 to 7 of them."""
    largest = largest if largest > 0 and math.isfinite(largest) else 1.0
    magnitude = 10 ** math.floor(math.log10(largest / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if largest / (m * magnitude) <= 6)
    return step, max(4, math.ceil(largest / step * 1.05))


def ms(value: float) -> str:
    return f"{value:.1f} ms"


def mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


# What the charts show of a function's figures: the axis, the value as RESULTS.md writes it, the unit's scale.
AXES = {"total": ("init + first invocation (ms)", ms, 1.0), "rss": ("peak RSS (MB)", mb, 1e6)}


def cold_start(figures: Mapping[str, Measured], floor: str = "auth-floor") -> str:
    """init + first and peak RSS of each function in `figures` against `floor`'s, with issue 22's
    targets (AUTH_FLOOR_TARGETS) as lines; a bar over a target is coloured so."""
    reference = figures[floor]
    panels = []
    for target in AUTH_FLOOR_TARGETS:
        if target.field not in AXES:
            continue  # the zip: in RESULTS.md's table only
        axis, show, scale = AXES[target.field]
        bars = []
        for name, f in figures.items():
            value, base = getattr(f, target.field), getattr(reference, target.field)
            colour = REFERENCE if name == floor else PASS if target.check(value, base)[0] else FAIL
            ratio = "" if name == floor else f" ({value / base:.2f}×)"
            bars.append(Bar(name, value / scale, show(value) + ratio, colour))
        lines = [Line(target.ratio * getattr(reference, target.field) / scale, f"{target.ratio}× {floor}")]
        if target.limit is not None:
            lines.append(Line(target.limit / scale, f"{target.limit / scale:g} {target.unit}"))
        panels.append(Panel(axis, bars, lines))
    return chart(f"Cold start against the authenticated floor ({floor}), TLS", panels,
                 [(f"{floor} (reference)", REFERENCE), ("within target", PASS), ("over target", FAIL)])


def peers(figures: Mapping[str, Measured], ours: str = "get-market") -> str:
    """init + first and peak RSS of `ours` beside the peers in `figures`, each peer's as a multiple
    of ours, with issue 22's goal (PEER_GOAL × ours) as a line."""
    mine = figures[ours]
    panels = []
    for field, (axis, show, scale) in AXES.items():
        bars = [Bar(name, getattr(f, field) / scale,
                    show(getattr(f, field)) + ("" if name == ours else f" ({getattr(f, field) / getattr(mine, field):.1f}×)"),
                    PASS if name == ours else REFERENCE)
                for name, f in figures.items()]
        panels.append(Panel(axis, bars, [Line(PEER_GOAL * getattr(mine, field) / scale, f"goal: {PEER_GOAL:g}× {ours}")]))
    return chart(f"{ours} against the same route in Node.js and Python, TLS", panels,
                 [(ours, PASS), ("peers", REFERENCE)])


def round_trips(trips: Mapping[str, float], latency_ms: float, measured: set[str]) -> str:
    """The sequential round trips of each function at `latency_ms` per AWS call, with the limit of
    two as a line; the route functions (`measured`) coloured by it, the rest as references."""
    bars = [Bar(name, value, f"{value:.1f}",
                (PASS if value <= ROUND_TRIP_LIMIT else FAIL) if name in measured else REFERENCE)
            for name, value in trips.items()]
    panel = Panel(f"sequential round trips: (warm p50 at {latency_ms:g} ms − at 0) / {latency_ms:g} ms",
                  bars, [Line(ROUND_TRIP_LIMIT, f"{ROUND_TRIP_LIMIT} rounds")])
    return chart(f"Sequential AWS round trips per request ({latency_ms:g} ms per AWS call, TLS)", [panel],
                 [("references and peers", REFERENCE), (f"≤ {ROUND_TRIP_LIMIT}", PASS), (f"> {ROUND_TRIP_LIMIT}", FAIL)])


def write(directory: Path, against_floor: Mapping[str, Measured], beside_peers: Mapping[str, Measured],
          trips: Mapping[str, float], latency_ms: float, routes: set[str]) -> list[Path]:
    """Writes the charts that have figures into `directory` and removes those that have none (a run
    without the peers or the latency leaves no older picture beside its RESULTS.md)."""
    svgs = {"cold-start.svg": cold_start(against_floor),
            "peers.svg": peers(beside_peers) if beside_peers else None,
            "round-trips.svg": round_trips(trips, latency_ms, routes) if trips and latency_ms else None}
    written = []
    for name, svg in svgs.items():
        path = directory / name
        if svg is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(svg)
            written.append(path)
    return written
