"""Plotly figure builders for the insights pages: data in, figure out (no ORM).

Plain Plotly JSON specs, like the monitoring charts (``monitoring.dashboards.charts.Figure``): the graph
objects validate and deep-copy every property, which cost the root-cause, drill-down, compare and
agent-map pages tens of milliseconds each on every request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agentops import formatting
from monitoring.dashboards.charts import Figure, figure
from monitoring.ingest.derived_models import EdgeKind

_GRID = "#eef0f4"
_LAYOUT: dict[str, Any] = dict(template={}, margin=dict(l=40, r=20, t=30, b=40), height=300,
                               paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                               font=dict(family="system-ui, sans-serif", size=12, color="#1c2330"),
                               xaxis=dict(gridcolor=_GRID, automargin=True), yaxis=dict(gridcolor=_GRID, automargin=True))
BRAND = "#3b5bdb"
MUTED = "#868e96"


def failure_colour(rate: float, alpha: float = 0.55) -> str:
    """Green at 0% failures through amber to red at 20% and above (beyond that all is bad alike)."""
    t = max(0.0, min(1.0, rate / 0.2))
    if t < 0.5:
        r, g, b = _mix((47, 158, 68), (245, 159, 0), t * 2)
    else:
        r, g, b = _mix((245, 159, 0), (224, 49, 49), (t - 0.5) * 2)
    return f"rgba({r},{g},{b},{alpha})"


def _figure(*traces: dict[str, Any], **layout: Any) -> Figure:
    return figure(_LAYOUT, *traces, **layout)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def pareto_figure(rows: Sequence[dict]) -> Figure:
    """Reviewer-assigned root causes: bars by count, line of cumulative share (right axis)."""
    names = [r["name"] for r in rows]
    return _figure(
        dict(kind="bar", x=names, y=[r["n"] for r in rows], name="tickets", marker=dict(color=BRAND)),
        dict(kind="scatter", x=names, y=[r["cumulative_pct"] for r in rows], name="cumulative %", yaxis="y2",
             mode="lines+markers", line=dict(color="#e8590c")),
        showlegend=False, yaxis=dict(title=dict(text="tickets")),
        yaxis2=dict(title=dict(text="cumulative %"), overlaying="y", side="right", range=[0, 105]),
    )


def groups_figure(groups: Sequence) -> Figure:
    """Top failure groups by runs in the range (horizontal bars, largest on top)."""
    top = list(groups)[:10][::-1]
    return _figure(
        dict(kind="bar", x=[g.runs for g in top], y=[g.description[:60] for g in top], orientation="h",
             marker=dict(color="#e03131"), hovertemplate="%{y}<br>%{x:,} runs<extra></extra>"),
        margin=dict(l=320, r=20, t=20, b=40), xaxis=dict(title=dict(text="runs")),
    )


def daily_figure(daily: Sequence[tuple[datetime, int]]) -> Figure:
    return _figure(
        dict(kind="bar", x=[d.isoformat() for d, _n in daily], y=[n for _d, n in daily], marker=dict(color="#e03131"),
             hovertemplate="%{x|%Y-%m-%d}: %{y:,} runs<extra></extra>"),
        height=220, xaxis=dict(type="date"), yaxis=dict(title=dict(text="runs")),
    )


def success_rate_figure(versions: Sequence) -> Figure:
    """Success rate per prompt version with its 95% Wilson interval as error bars."""
    shown = [v for v in versions if v.runs]
    rates = [100 * v.success_rate for v in shown]
    return _figure(
        dict(kind="bar", x=[v.label for v in shown], y=rates, marker=dict(color=BRAND),
             error_y=dict(type="data", symmetric=False,
                          array=[100 * v.success_interval.high - r for v, r in zip(shown, rates, strict=True)],
                          arrayminus=[r - 100 * v.success_interval.low for v, r in zip(shown, rates, strict=True)]),
             hovertemplate="%{x}: %{y:,.1f}% success<extra></extra>"),
        height=260, xaxis=dict(type="category"), yaxis=dict(title=dict(text="success %"), range=[0, 105]),
    )


def _node_label(kind: str, name: str) -> str:
    if kind == EdgeKind.TOOL:
        return f"tool: {name}"
    if kind == EdgeKind.HUMAN:
        return f"queue: {name}"
    return name


def sankey_figure(edges: Sequence) -> Figure:
    """Agents -> sub-agents, tools and the human queue; width by calls, colour by failure rate."""
    index: dict[tuple[str, str], int] = {}
    labels: list[str] = []
    colours: list[str] = []

    def node(kind: str, key: str, label: str) -> int:
        if (kind, key) not in index:
            index[(kind, key)] = len(labels)
            labels.append(_node_label(kind, label))
            colours.append({EdgeKind.TOOL: MUTED, EdgeKind.HUMAN: "#e8590c"}.get(kind, BRAND))
        return index[(kind, key)]

    sources, targets, values, link_colours, custom = [], [], [], [], []
    for e in edges:
        sources.append(node(EdgeKind.AGENT, str(e.source.id), e.source.name))
        target_key = str(e.target_agent.id) if e.target_agent is not None else e.target_name
        targets.append(node(e.target_kind, target_key, e.target_label))
        values.append(e.calls)
        link_colours.append(failure_colour(e.failure_rate))
        p95 = formatting.format_latency(e.p95_ms) if e.p95_ms is not None else "n/a"
        custom.append([f"{100 * e.failure_rate:,.1f}%", p95, formatting.format_usd(e.cost_per_call)])
    return _figure(
        dict(kind="sankey", arrangement="snap", node=dict(label=labels, color=colours, pad=14, thickness=14),
             link=dict(source=sources, target=targets, value=values, color=link_colours, customdata=custom,
                       hovertemplate="%{source.label} → %{target.label}<br>%{value:,} calls, %{customdata[0]} failed"
                                     "<br>p95 %{customdata[1]}, cost/call %{customdata[2]}<extra></extra>")),
        height=max(360, 28 * len(labels)),
    )
