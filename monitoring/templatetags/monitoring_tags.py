"""Formatting for monitoring pages: latencies, rates, money and changes against the previous period."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from agentops import formatting
from monitoring.dashboards.queries import Tile
from monitoring.rollups.queries import metric_value

register = template.Library()

DASH = "–"
_NO_PREVIOUS = format_html('<span class="delta-flat small" title="no data in the previous period">{}</span>', DASH)


@register.filter
def ms(value: float | None) -> str:
    """A latency, by the one rule of agentops.formatting (ms under a second, s above)."""
    return formatting.format_latency(value)


@register.filter
def pct(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f} %"


@register.filter
def usd(value: Decimal | float | None) -> str:
    return formatting.format_usd(value)


@register.filter
def count(value) -> str:
    """A count with thousands separators."""
    return formatting.format_count(value)


@register.filter
def score(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


@register.filter
def ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f}×"


# For each metric: is a rise good (True), bad (False); and how to print the change.
_DELTAS = {
    "runs": (True, lambda d: f"{d:+,.0f}"),
    "success_rate": (True, lambda d: f"{d:+.1f} pt"),
    "escalation_rate": (False, lambda d: f"{d:+.1f} pt"),
    "error_rate": (False, lambda d: f"{d:+.1f} pt"),
    "quality": (True, lambda d: f"{d:+.2f}"),
    "cost_per_run": (False, lambda d: f"{d:+.4f}"),
    "p50_latency_ms": (False, lambda d: ("+" if d > 0 else "") + formatting.format_latency(d)),
    "p95_latency_ms": (False, lambda d: ("+" if d > 0 else "") + formatting.format_latency(d)),
    "p99_latency_ms": (False, lambda d: ("+" if d > 0 else "") + formatting.format_latency(d)),
}


@register.simple_tag
def delta(tile: Tile, metric: str) -> str:
    """The change against the previous period, coloured by whether it is good news."""
    change = tile.change(metric)
    if change is None:
        return _NO_PREVIOUS
    rise_is_good, fmt = _DELTAS[metric]
    if abs(change) < 1e-9:
        css = "delta-flat"
    else:
        css = "delta-up" if (change > 0) == rise_is_good else "delta-down"
    # Rendered 7 times per tile on every poll: plain formatting of a number (escaped anyway, which
    # costs nothing for digits) instead of format_html's per-argument machinery.
    return mark_safe(f'<span class="{css} small" title="vs previous period">{escape(fmt(change))}</span>')  # noqa: S308


@register.filter
def metric(summary, name: str):
    return metric_value(summary, name)


SLO_LABELS = {"met": "Met", "at_risk": "At risk", "breached": "Breached", "none": "No SLO data"}


@register.filter
def slo_label(status: str) -> str:
    """Human label of an SLO status (met, at_risk, breached, none)."""
    return SLO_LABELS.get(status, status)


@register.filter
def alert_value(value: float | None, metric: str) -> str:
    """An alert's value in its metric's unit ({{ event.last_value|alert_value:event.rule.metric }})."""
    from monitoring.alerts.services import format_metric

    return format_metric(metric, value)


@register.filter
def as_conversation(raw: str):
    """A step's input or output as conversation turns, or None (monitoring.dashboards.conversation)."""
    from monitoring.dashboards.conversation import conversation

    return conversation(raw)


@register.filter
def pretty_json(value) -> str:
    """Attributes and events, indented for reading and copying."""
    import json

    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
