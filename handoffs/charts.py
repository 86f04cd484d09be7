"""Plotly figure builders for the queue metrics page: data in, figure out."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go

from agentops.formatting import CHART_NUMBER

_LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 36, "b": 48},
    "height": 300,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"size": 12},
    "xaxis": {"hoverformat": CHART_NUMBER},
    "yaxis": {"hoverformat": CHART_NUMBER},
}
BRAND = "#3b5bdb"


def _figure(title: str, trace, **layout) -> go.Figure:
    fig = go.Figure(trace)
    merged = {key: {**value, **layout.pop(key, {})} if isinstance(value, dict) else value
              for key, value in _LAYOUT.items()}
    fig.update_layout(title={"text": title, "x": 0}, **merged, **layout)
    return fig


def depth_by_age(buckets: list[tuple[str, int]]) -> go.Figure:
    return _figure(
        "Open work by age",
        go.Bar(x=[b[0] for b in buckets], y=[b[1] for b in buckets], marker_color=BRAND),
        yaxis={"title": "tickets", "rangemode": "tozero"},
    )


def arrivals(by_day: list[tuple[datetime, int]]) -> go.Figure:
    return _figure(
        "Arrivals per day",
        go.Bar(x=[d.date().isoformat() for d, _ in by_day], y=[n for _, n in by_day], marker_color=BRAND),
        yaxis={"title": "tickets", "rangemode": "tozero"},
    )


def handoff_rate_by_agent(rows: list[dict]) -> go.Figure:
    rows = [r for r in rows if r["rate"] is not None][:15]
    return _figure(
        "Handoff rate by agent (runs handed to a person, %)",
        go.Bar(
            y=[r["agent__name"] for r in rows], x=[round(r["rate"] * 100, 2) for r in rows], orientation="h",
            marker_color="#f08c00", hovertemplate="%{y}: %{x:,.1f}%<extra></extra>",
        ),
        xaxis={"title": "% of runs", "rangemode": "tozero"}, yaxis={"autorange": "reversed"},
    )


def tickets_by_reason(rows: list[dict]) -> go.Figure:
    return _figure(
        "Tickets by reason",
        go.Bar(y=[r["reason"] or "(none)" for r in rows], x=[r["tickets"] for r in rows], orientation="h",
               marker_color=BRAND),
        xaxis={"title": "tickets", "rangemode": "tozero"}, yaxis={"autorange": "reversed"},
    )
