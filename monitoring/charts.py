"""Plotly figure builders for the monitoring pages: data in, figure out (no ORM, no requests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go

from .queries import Point

# A small, explicit layout instead of a Plotly template keeps each figure's JSON a few KB, which
# matters because htmx re-sends the charts every few seconds.
_LAYOUT = {
    "template": None,
    "margin": {"l": 50, "r": 20, "t": 36, "b": 36},
    "height": 280,
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1c2330"},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "legend": {"orientation": "h", "y": -0.2},
    "xaxis": {"gridcolor": "#eef0f4", "type": "date"},
    "yaxis": {"gridcolor": "#eef0f4", "rangemode": "tozero"},
    "hovermode": "x unified",
}
COLORS = {"runs": "#3b5bdb", "errors": "#c92a2a", "p50": "#2b8a3e", "p95": "#e8590c", "p99": "#862e9c",
          "quality": "#1971c2", "cost": "#5c940d", "tokens": "#adb5bd", "target": "#c92a2a", "prompt": "#868e96"}


def _figure(title: str, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(_LAYOUT, title={"text": title, "x": 0, "font": {"size": 13}}, **layout)
    return fig


def _target_line(fig: go.Figure, value: float | None, label: str) -> None:
    if value is None:
        return
    fig.add_hline(y=value, line={"color": COLORS["target"], "dash": "dash", "width": 1},
                  annotation_text=label, annotation_position="top left")


def _prompt_markers(fig: go.Figure, changes: Sequence[tuple[datetime, str]]) -> None:
    for moment, label in changes:
        fig.add_vline(x=moment.timestamp() * 1000, line={"color": COLORS["prompt"], "dash": "dot", "width": 1},
                      annotation_text=label, annotation_position="top right")


def _xs(points: Sequence[Point]) -> list[str]:
    return [p.bucket.isoformat() for p in points]


def volume_chart(points: Sequence[Point], changes: Sequence[tuple[datetime, str]] = ()) -> go.Figure:
    fig = _figure("Runs and errors", barmode="overlay")
    xs = _xs(points)
    fig.add_bar(x=xs, y=[p.summary.runs for p in points], name="runs", marker_color=COLORS["runs"])
    fig.add_bar(x=xs, y=[p.summary.errors for p in points], name="errors", marker_color=COLORS["errors"])
    _prompt_markers(fig, changes)
    return fig


def latency_chart(points: Sequence[Point], target_ms: float | None = None,
                  changes: Sequence[tuple[datetime, str]] = ()) -> go.Figure:
    fig = _figure("Latency (ms)")
    xs = _xs(points)
    percentiles = [p.summary.percentiles for p in points]
    for index, name in enumerate(("p50", "p95", "p99")):
        fig.add_scatter(x=xs, y=[ps[index] for ps in percentiles], name=name, mode="lines+markers",
                        line={"color": COLORS[name], "width": 1.5}, marker={"size": 4}, connectgaps=False)
    _target_line(fig, target_ms, "p95 target")
    _prompt_markers(fig, changes)
    return fig


def quality_chart(points: Sequence[Point], floor: float | None = None,
                  changes: Sequence[tuple[datetime, str]] = ()) -> go.Figure:
    fig = _figure("Quality score", yaxis={"range": [0, 1.05], "gridcolor": "#eef0f4"})
    fig.add_scatter(x=_xs(points), y=[p.summary.quality for p in points], name="quality",
                    mode="lines+markers", line={"color": COLORS["quality"]}, marker={"size": 4})
    _target_line(fig, floor, "quality floor")
    _prompt_markers(fig, changes)
    return fig


def cost_chart(points: Sequence[Point], max_cost_per_run: float | None = None,
               changes: Sequence[tuple[datetime, str]] = ()) -> go.Figure:
    fig = _figure("Cost per run (USD) and tokens",
                  yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"})
    xs = _xs(points)
    fig.add_bar(x=xs, y=[p.summary.tokens for p in points], name="tokens", marker_color=COLORS["tokens"],
                yaxis="y2", opacity=0.6)
    fig.add_scatter(x=xs, y=[float(p.summary.cost_per_run) if p.summary.cost_per_run is not None else None
                             for p in points],
                    name="cost per run", mode="lines+markers", line={"color": COLORS["cost"]}, marker={"size": 4})
    _target_line(fig, max_cost_per_run, "cost target")
    _prompt_markers(fig, changes)
    return fig
