"""The one time-range abstraction: range choices, custom from/to and parsing. Used by dashboards,
insights and handoff metrics alike; which rollup tier a range reads is rollups' choice
(``monitoring.rollups.queries.aggregate_tier``/``series_tier``).

It imports no monitoring sub-package, so every sub-package may use it (see docs/development.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

RANGE_CHOICES: dict[str, tuple[str, timedelta]] = {
    "15m": ("last 15 min", timedelta(minutes=15)),
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 h", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}


DEFAULT_RANGE = "24h"


MAX_CUSTOM_SPAN = timedelta(days=400)


class InvalidRange(ValueError):
    """A time range the user typed that we cannot use; the message is shown to them as is."""


@dataclass(frozen=True)
class TimeRange:
    key: str  # one of RANGE_CHOICES or "custom"
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        if self.key in RANGE_CHOICES:
            return RANGE_CHOICES[self.key][0]
        return f"{timezone.localtime(self.start):%Y-%m-%d %H:%M} to {timezone.localtime(self.end):%Y-%m-%d %H:%M}"

    def previous(self) -> TimeRange:
        return TimeRange(self.key, self.start - self.span, self.start)


def _parse_local(value: str, name: str) -> datetime:
    moment = parse_datetime(value.strip()) if value else None
    if moment is None:
        raise InvalidRange(f"The {name} time “{value}” is not a date and time like 2026-03-01T09:30.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def parse_range(params, now: datetime | None = None) -> TimeRange:
    """The range named by ``range`` (or ``from``/``to`` for custom) in a QueryDict-like mapping."""
    now = now or timezone.now()
    key = params.get("range") or DEFAULT_RANGE
    if key in RANGE_CHOICES:
        return TimeRange(key, now - RANGE_CHOICES[key][1], now)
    if key != "custom":
        raise InvalidRange(f"Unknown time range “{key}”: choose one of {', '.join(RANGE_CHOICES)} or custom.")
    start = _parse_local(params.get("from", ""), "from")
    end = _parse_local(params.get("to", ""), "to") if params.get("to") else now
    if start >= end:
        raise InvalidRange("The custom range must start before it ends.")
    if end - start > MAX_CUSTOM_SPAN:
        raise InvalidRange("The custom range may cover at most 400 days.")
    if start > now:
        raise InvalidRange("The custom range starts in the future: there is no data there yet.")
    return TimeRange("custom", start, end)
