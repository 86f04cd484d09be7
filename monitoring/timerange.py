"""The one time-range abstraction: range choices, custom from/to and parsing. Used by dashboards,
insights and handoff metrics alike; which rollup tier a range reads is rollups' choice
(``monitoring.rollups.queries.aggregate_tier``/``series_tier``).

It imports no monitoring sub-package, so every sub-package may use it (see docs/development.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime

RANGE_CHOICES: dict[str, tuple[str, timedelta]] = {
    "15m": ("last 15 min", timedelta(minutes=15)),
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 h", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
    "90d": ("last 90 days", timedelta(days=90)),
}

# Links made before the pages shared this abstraction say ``days=N`` (insights, queue metrics).
LEGACY_DAYS = {"1": "24h", "7": "7d", "30": "30d", "90": "90d"}


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


def range_key(params, default: str = DEFAULT_RANGE) -> str:
    """The range a query string asks for: ``range``, else an old link's ``days``, else ``default``."""
    if params.get("range"):
        return params["range"]
    days = (params.get("days") or "").strip()
    if days:
        if days not in LEGACY_DAYS:
            raise InvalidRange(f"Unknown range of “{days}” days: choose one of {', '.join(RANGE_CHOICES)} or custom.")
        return LEGACY_DAYS[days]
    return default


def parse_range(params, now: datetime | None = None, default: str = DEFAULT_RANGE) -> TimeRange:
    """The range named by ``range`` (or ``from``/``to`` for custom, or an old link's ``days``) in a
    QueryDict-like mapping; ``default`` without any."""
    now = now or timezone.now()
    key = range_key(params, default)
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


def range_query(time_range: TimeRange) -> str:
    """The query string that asks for ``time_range`` again (for links between pages)."""
    if time_range.key != "custom":
        return urlencode({"range": time_range.key})
    fmt = "%Y-%m-%dT%H:%M"
    return urlencode({"range": "custom", "from": timezone.localtime(time_range.start).strftime(fmt),
                      "to": timezone.localtime(time_range.end).strftime(fmt)})


class TimeRangeForm(forms.Form):
    """Base of a GET filter form whose pages take the shared time range (``range``, ``from``, ``to``;
    an old ``days`` link is mapped). Render the picker with
    ``{% include "monitoring/_range_picker.html" with range_choices=form.range_choices range_key=form.range_key %}``.
    After ``is_valid()``, ``time_range`` is the range; a bad one is a form error with its message."""

    default_range = DEFAULT_RANGE
    time_range: TimeRange

    def __init__(self, data=None, *args, now: datetime | None = None, **kwargs):
        super().__init__(data, *args, **kwargs)
        self._now = now

    def clean(self):
        cleaned = super().clean()
        try:
            self.time_range = parse_range(self.data, now=self._now, default=self.default_range)
        except InvalidRange as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned

    def window(self) -> tuple[datetime, datetime]:
        return self.time_range.start, self.time_range.end

    @property
    def range_choices(self) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _span) in RANGE_CHOICES.items()]

    @property
    def range_key(self) -> str:
        try:
            return range_key(self.data, self.default_range)
        except InvalidRange:
            return self.default_range

    @property
    def range_query(self) -> str:
        time_range = getattr(self, "time_range", None)
        return range_query(time_range) if time_range else ""
