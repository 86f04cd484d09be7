"""SLA clock arithmetic: pure functions, no ORM, all inputs and outputs aware datetimes.

A queue's clock either runs 24/7 (``hours`` is None) or only inside business hours (e.g. Mon-Fri
09:00-17:00 in Europe/Berlin). Business windows are built in the queue's timezone and converted to
UTC before any arithmetic, because Python subtracts aware datetimes that share a tzinfo as wall
clock time, which is wrong across DST changes.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# A business calendar with no open time would make every deadline infinite; cap the search.
_MAX_DAYS_SCANNED = 366 * 5


@dataclass(frozen=True)
class BusinessHours:
    tz: str
    start: time
    end: time
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # datetime.weekday(): Monday is 0

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("business hours must end after they start")
        if not self.weekdays or any(d < 0 or d > 6 for d in self.weekdays):
            raise ValueError("business days must be a non-empty subset of 0 (Monday) .. 6 (Sunday)")
        zoneinfo.ZoneInfo(self.tz)  # raises ZoneInfoNotFoundError for unknown names

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tz)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """That local day's open window in UTC, or None on a closed day."""
        if day.weekday() not in self.weekdays:
            return None
        zone = self.zone
        opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        return opens, closes

    def windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows (UTC) from the local day containing ``moment`` onwards."""
        day = moment.astimezone(self.zone).date()
        for offset in range(_MAX_DAYS_SCANNED):
            w = self.window(day + timedelta(days=offset))
            if w is not None:
                yield w


def _require_aware(*moments: datetime) -> None:
    for m in moments:
        if m.tzinfo is None or m.utcoffset() is None:
            raise ValueError("SLA calculations need timezone-aware datetimes")


def add_clock_seconds(start: datetime, seconds: float, hours: BusinessHours | None) -> datetime:
    """The moment ``seconds`` of clock time after ``start`` (UTC result)."""
    _require_aware(start)
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    start = start.astimezone(UTC)
    if hours is None:
        return start + timedelta(seconds=seconds)
    remaining = float(seconds)
    for opens, closes in hours.windows_from(start):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = (closes - begin).total_seconds()
        if remaining <= available:
            # A deadline of zero seconds before opening time lands at opening time, not earlier.
            return begin + timedelta(seconds=remaining)
        remaining -= available
    raise ValueError("business hours leave no open time within five years")


def clock_seconds_between(start: datetime, end: datetime, hours: BusinessHours | None) -> float:
    """Clock seconds from ``start`` to ``end``; negative when ``end`` is earlier."""
    _require_aware(start, end)
    if end < start:
        return -clock_seconds_between(end, start, hours)
    if hours is None:
        return (end - start).total_seconds()
    total = 0.0
    for opens, closes in hours.windows_from(start):
        if opens >= end:
            break
        overlap = (min(closes, end) - max(opens, start)).total_seconds()
        if overlap > 0:
            total += overlap
    return total


def due_at(created_at: datetime, sla_minutes: int, paused_seconds: float, hours: BusinessHours | None) -> datetime:
    """A deadline: the SLA budget plus the time spent paused (pending), on the queue's clock."""
    return add_clock_seconds(created_at, sla_minutes * 60 + max(paused_seconds, 0.0), hours)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (as Postgres percentile_cont) of a small in-memory list."""
    if not values:
        return None
    if not 0 <= q <= 1:
        raise ValueError("q must be within 0..1")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def sla_state(due: datetime | None, now: datetime, warn_seconds: float = 15 * 60) -> str:
    """'breached', 'due_soon', 'ok' or 'none' (no running clock) for highlighting a countdown."""
    if due is None:
        return "none"
    left = (due - now).total_seconds()
    if left < 0:
        return "breached"
    return "due_soon" if left <= warn_seconds else "ok"
