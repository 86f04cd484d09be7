"""Small display helpers for handoff pages."""

from __future__ import annotations

from django import template

from agentops import formatting

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """A human working time by the one rule of agentops.formatting: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    return formatting.format_work_time(seconds)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:,.1f}%"
