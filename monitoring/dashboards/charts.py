"""Plotly figure builders for the monitoring pages: data in, figure out (no ORM, no requests).

Figures are built as plain Plotly JSON specs (``data`` + ``layout`` dicts) rather than through
``plotly.graph_objects``: the graph objects validate every property on every assignment, a cost paid
per chart on every refresh of the agent dashboard (four charts, re-sent every 3 s). The specs use only
documented Plotly attributes, so plotly.js draws them exactly as it drew the validated figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from copy import deepcopy
from datetime import datetime
from typing import Any

import plotly.io

from agentops.formatting import CHART_NUMBER
from monitoring.rollups.queries import Point

# A small, explicit layout instead of a Plotly template keeps each figure's JSON a few KB, which
# matters because htmx re-sends the charts every few seconds.
_LAYOUT: dict[str, Any] = {
    "template": {},
    "margin": {"l": 50, "r": 20, "t": 44, "b": 40},
    "height": 300,
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1c2330"},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    # top right, level with the title: below the plot it would sit on the two-line date tick labels
    "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    "xaxis": {"gridcolor": "#eef0f4", "type": "date", "automargin": True, "nticks": 6},
    "yaxis": {"gridcolor": "#eef0f4", "rangemode": "tozero", "automargin": True, "hoverformat": CHART_NUMBER},
    "hovermode": "x unified",
}
COLORS = {"runs": "#3b5bdb", "errors": "#c92a2a", "p50": "#2b8a3e", "p95": "#e8590c", "p99": "#862e9c",
          "quality": "#1971c2", "cost": "#5c940d", "tokens": "#adb5bd", "target": "#c92a2a", "prompt": "#868e96"}


class Figure:
    """A Plotly figure spec with the two methods the pages use (``to_json``, ``to_dict``)."""

    def __init__(self, layout: dict[str, Any]) -> None:
        self.data: list[dict[str, Any]] = []
        self.layout = layout

    def add_trace(self, kind: str, **trace: Any) -> None:
        self.data.append({**trace, "type": kind})

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "layout": self.layout}

    def to_json(self) -> str:
        try:
            # allow_nan=False: a bare NaN would make the whole chart unreadable for JSON.parse.
            return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)
        except ValueError:  # never expected from our metrics; Plotly's encoder writes NaN/inf as null
            return plotly.io.to_json(self.to_dict(), validate=False)


def figure(base: dict[str, Any], *traces: dict[str, Any], **layout: Any) -> Figure:
    """A spec on a copy of ``base`` layout; nested layout dicts (axes, margins) merge into the base's,
    like ``Figure.update_layout``. ``traces``: dicts with ``kind`` and the trace's attributes."""
    spec = deepcopy(base)
    for key, value in layout.items():
        spec[key] = {**spec[key], **value} if isinstance(spec.get(key), dict) and isinstance(value, dict) else value
    fig = Figure(spec)
    for trace in traces:
        fig.add_trace(**trace)
    return fig


def _figure(title: str, **layout: Any) -> Figure:
    return figure(_LAYOUT, title={"text": title, "x": 0, "font": {"size": 13}}, **layout)


def _target_line(fig: Figure, value: float | None, label: str) -> None:
    """A dashed horizontal line across the plot (what ``add_hline`` with a top-left label produces)."""
    if value is None:
        return
    value = float(value)
    fig.layout.setdefault("shapes", []).append({
        "type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value,
        "line": {"color": COLORS["target"], "dash": "dash", "width": 1},
    })
    fig.layout.setdefault("annotations", []).append({
        "text": label, "showarrow": False, "xref": "x domain", "x": 0, "xanchor": "left",
        "yref": "y", "y": value, "yanchor": "bottom",
    })


def _prompt_markers(fig: Figure, changes: Sequence[tuple[datetime, str]]) -> None:
    """A dotted vertical line per prompt version change (``add_vline``, label top right)."""
    for index, (moment, label) in enumerate(changes):
        x = moment.timestamp() * 1000
        fig.layout.setdefault("shapes", []).append({
            "type": "line", "xref": "x", "x0": x, "x1": x, "yref": "y domain", "y0": 0, "y1": 1,
            "line": {"color": COLORS["prompt"], "dash": "dot", "width": 1},
        })
        fig.layout.setdefault("annotations", []).append({
            # staggered, so labels of versions changed close together do not print over each other
            "text": label, "showarrow": False, "xref": "x", "x": x, "xanchor": "left",
            "yref": "y domain", "y": 1 - 0.09 * (index % 3), "yanchor": "top",
        })


def over_range(fig: Figure, start: datetime, end: datetime) -> Figure:
    """Pin the time axis to the chosen range, so the charts of one page line up (autorange would
    end each chart at its last point, the bar chart half a bucket later than the lines)."""
    fig.layout["xaxis"] = {**fig.layout.get("xaxis", {}), "range": [start.isoformat(), end.isoformat()]}
    return fig


def _xs(points: Sequence[Point]) -> list[str]:
    return [p.bucket.isoformat() for p in points]


def volume_chart(points: Sequence[Point], changes: Sequence[tuple[datetime, str]] = ()) -> Figure:
    fig = _figure("Runs and errors", barmode="overlay")
    xs = _xs(points)
    fig.add_trace("bar", x=xs, y=[p.summary.runs for p in points], name="runs", marker={"color": COLORS["runs"]})
    fig.add_trace("bar", x=xs, y=[p.summary.errors for p in points], name="errors",
                  marker={"color": COLORS["errors"]})
    _prompt_markers(fig, changes)
    return fig


def latency_chart(points: Sequence[Point], target_ms: float | None = None,
                  changes: Sequence[tuple[datetime, str]] = ()) -> Figure:
    fig = _figure("Latency (ms)")
    xs = _xs(points)
    percentiles = [p.summary.percentiles for p in points]
    for index, name in enumerate(("p50", "p95", "p99")):
        fig.add_trace("scatter", x=xs, y=[ps[index] for ps in percentiles], name=name, mode="lines+markers",
                      line={"color": COLORS[name], "width": 1.5}, marker={"size": 4}, connectgaps=False)
    _target_line(fig, target_ms, "p95 target")
    _prompt_markers(fig, changes)
    return fig


def quality_chart(points: Sequence[Point], floor: float | None = None,
                  changes: Sequence[tuple[datetime, str]] = ()) -> Figure:
    fig = _figure("Quality score", yaxis={"range": [0, 1.05], "gridcolor": "#eef0f4"})
    fig.add_trace("scatter", x=_xs(points), y=[p.summary.quality for p in points], name="quality",
                  mode="lines+markers", line={"color": COLORS["quality"]}, marker={"size": 4})
    _target_line(fig, floor, "quality floor")
    _prompt_markers(fig, changes)
    return fig


def cost_chart(points: Sequence[Point], max_cost_per_run: float | None = None,
               changes: Sequence[tuple[datetime, str]] = ()) -> Figure:
    fig = _figure("Cost (USD) and tokens",
                  yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                          "hoverformat": CHART_NUMBER,
                          "automargin": True})
    xs = _xs(points)
    fig.add_trace("bar", x=xs, y=[p.summary.tokens for p in points], name="tokens",
                  marker={"color": COLORS["tokens"]}, yaxis="y2", opacity=0.6)
    fig.add_trace("scatter", x=xs, y=[float(p.summary.cost_per_run) if p.summary.cost_per_run is not None else None
                                      for p in points],
                  name="cost/run", mode="lines+markers", line={"color": COLORS["cost"]}, marker={"size": 4})
    _target_line(fig, max_cost_per_run, "cost target")
    _prompt_markers(fig, changes)
    return fig
