"""Plotly figure builders for the ROI pages: data in, figure out."""

from __future__ import annotations

from decimal import Decimal

import plotly.graph_objects as go

from agentops.formatting import CHART_MONEY

from .models import REPORT_CURRENCY


def _num(value: Decimal | None) -> float | None:
    # Plotly serialises floats; the figures on the chart are for shape only, the table holds the exact ones.
    return None if value is None else float(value)


def trend_figure(points) -> go.Figure:
    """Net benefit by month (bars) and cost per resolution, agent vs person (lines, right axis)."""
    months = [p.period.start.strftime("%b %Y") for p in points]
    fig = go.Figure()
    fig.add_bar(x=months, y=[_num(p.net_benefit) for p in points], name=f"Net benefit ({REPORT_CURRENCY})",
                marker_color=["#2b8a3e" if p.net_benefit >= 0 else "#c92a2a" for p in points])
    fig.add_scatter(x=months, y=[_num(p.cost_per_resolution_agent) for p in points], yaxis="y2",
                    name="Cost per resolution: agent", mode="lines+markers", line={"color": "#3b5bdb"})
    fig.add_scatter(x=months, y=[_num(p.cost_per_resolution_person) for p in points], yaxis="y2",
                    name="Cost per resolution: person", mode="lines+markers", line={"color": "#b35c00", "dash": "dot"})
    fig.update_layout(
        margin={"l": 60, "r": 60, "t": 10, "b": 40}, height=300, legend={"orientation": "h", "y": -0.2},
        yaxis={"title": f"Net benefit ({REPORT_CURRENCY})", "zeroline": True, "hoverformat": CHART_MONEY},
        yaxis2={"title": f"Per resolution ({REPORT_CURRENCY})", "overlaying": "y", "side": "right", "rangemode": "tozero",
                "hoverformat": CHART_MONEY},
        plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
    )
    return fig
