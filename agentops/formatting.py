"""How numbers and durations read on every page: one rule each, used by the template filters of every
app (agentops/templatetags/units.py and the app filters that delegate here) and by alert messages.

- A latency: whole milliseconds under a second ("850 ms"), seconds with two decimals from one second
  on ("1.25 s", "1,234.50 s"). Compared at the same precision where a threshold is shown (alerts).
- Counts and money carry thousands separators ("12,345", "$1,234.56"); a money amount in a table that
  names its currency reads "1,234.56"; other figures keep their decimals ("1,234.5").
- A human working time (ticket handling, SLA countdowns): "45 s", "12 min", "3 h 05 min", "2 d 4 h".
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DASH = "–"

# The number rule for chart hover labels (d3-format, as Plotly reads it): separators, at most four
# decimals, trailing zeros dropped ("1,234.5", "0.0123"). The figures table under each chart
# (static/js/app.js) prints its numbers the same way.
CHART_NUMBER = ",.4~f"
CHART_MONEY = ",.2f"


def latency_quantum(ms: float | Decimal) -> Decimal:
    """The precision a latency is shown with: 1 ms under a second, 10 ms (0.01 s) above."""
    return Decimal("1") if abs(Decimal(str(ms))) < 1000 else Decimal("10")


def shown_latency_ms(ms: float | Decimal) -> Decimal:
    """The latency in ms rounded to what is displayed."""
    value = Decimal(str(ms))
    return value.quantize(Decimal("1")) if latency_quantum(value) == 1 else (value / 10).quantize(
        Decimal("1"), rounding=ROUND_HALF_UP) * 10


def format_latency(ms: float | Decimal | None) -> str:
    if ms is None:
        return DASH
    value = shown_latency_ms(ms)
    if abs(value) < 1000:
        return f"{value:,.0f} ms"
    return f"{value / 1000:,.2f} s"


def format_count(value: int | float | Decimal | None) -> str:
    if value is None or value == "":
        return DASH
    try:
        return f"{Decimal(str(value)):,.0f}"
    except (InvalidOperation, ValueError):
        return str(value)  # not a number (a label in a figures table): shown as it is


def format_decimal(value: int | float | Decimal | None, places: int = 1) -> str:
    """A figure with ``places`` decimals and thousands separators ("1,234.5")."""
    if value is None or value == "":
        return DASH
    try:
        return f"{Decimal(str(value)):,.{int(places)}f}"
    except (InvalidOperation, ValueError):
        return str(value)


def format_money(value: Decimal | float | None) -> str:
    """A money amount where the currency is named by the table or column: cents, separators ("1,234.56")."""
    return format_decimal(value, 2)


def format_usd(value: Decimal | float | None) -> str:
    """Dollars: four decimals under a dollar (a run can cost a fraction of a cent), else cents."""
    if value is None:
        return DASH
    value = Decimal(str(value))
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def format_work_time(seconds: float | None) -> str:
    """A human working time: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return DASH
    s = int(round(abs(seconds)))
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days:,} d {hours} h"
