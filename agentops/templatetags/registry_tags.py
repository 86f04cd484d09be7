"""Template filters for registry pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def trim_decimal(value: Decimal | str | None, min_places: int = 0) -> str:
    """A decimal amount without trailing zeros but with at least ``min_places`` decimals.

    E.g. model prices span four orders of magnitude (0.02 to 15 USD per 1M tokens): fixed places
    would either hide digits (0.075 -> 0.08) or pad large values (15.000000).
    """
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    text = format(amount.normalize(), ",f")  # shown, never a form value: separators like every figure
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(min_places, '0')}" if min_places or frac else whole
