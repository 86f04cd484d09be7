"""Display helpers for ROI figures: round only here, at the edge."""

from __future__ import annotations

from decimal import Decimal

from django import template

from roi.tables import QUANTUM, format_number

register = template.Library()


@register.filter
def roi_fmt(value, kind: str = "money") -> str:
    """Round a figure for display by its kind (money, unit_money, percent, tenth, int)."""
    if value is None:
        return "—"
    if isinstance(value, Decimal) and kind in QUANTUM:
        value = value.quantize(QUANTUM[kind])
    return format_number(value, kind)


@register.filter
def roi_delta(current, previous) -> str:
    """Change against a comparison figure, as a signed percentage; a dash when not comparable."""
    if current is None or previous is None or previous == 0:
        return "—"
    change = (Decimal(current) - Decimal(previous)) * 100 / abs(Decimal(previous))
    return f"{change.quantize(Decimal('0.1')):+}%"


@register.filter
def roi_delta_class(current, previous) -> str:
    if current is None or previous is None or current == previous:
        return "delta-flat"
    return "delta-up" if current > previous else "delta-down"


@register.filter
def roi_plain(value) -> str:
    """An assumption value without trailing zeros, with thousands separators (45.000000 -> 45,
    0.800000 -> 0.8, 3000.000000 -> 3,000)."""
    if value is None:
        return "—"
    return format(Decimal(value).normalize(), ",f")


@register.filter
def index(sequence, position: int):
    """``sequence[position]`` (the column of a cell, by the cell's loop counter)."""
    return sequence[position]
