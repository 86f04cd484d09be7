"""SLA clock arithmetic (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoffs.calculations import (
    BusinessHours,
    add_clock_seconds,
    clock_seconds_between,
    due_at,
    percentile,
    sla_state,
)

BERLIN_9_TO_5 = BusinessHours(tz="Europe/Berlin", start=time(9), end=time(17))
UTC_9_TO_5 = BusinessHours(tz="UTC", start=time(9), end=time(17))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_without_business_hours_the_clock_is_wall_time():
    assert add_clock_seconds(utc(2026, 3, 6, 16), 7200, None) == utc(2026, 3, 6, 18)


def test_deadline_inside_the_same_business_day():
    assert add_clock_seconds(utc(2026, 3, 4, 10), 3600, UTC_9_TO_5) == utc(2026, 3, 4, 11)


def test_deadline_carries_over_the_weekend():
    # Friday 16:00 + 2 business hours = Monday 10:00
    assert add_clock_seconds(utc(2026, 3, 6, 16), 7200, UTC_9_TO_5) == utc(2026, 3, 9, 10)


def test_handoff_outside_hours_starts_counting_at_opening():
    # Saturday night handoff: 30 minutes of SLA end Monday 09:30
    assert add_clock_seconds(utc(2026, 3, 7, 22), 1800, UTC_9_TO_5) == utc(2026, 3, 9, 9, 30)


def test_business_hours_follow_the_local_timezone_across_dst():
    # Berlin switches to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    assert add_clock_seconds(utc(2026, 3, 27, 15, 30), 3600, BERLIN_9_TO_5) == utc(2026, 3, 30, 7, 30)


def test_seconds_between_counts_only_open_time():
    assert clock_seconds_between(utc(2026, 3, 6, 16), utc(2026, 3, 9, 10), UTC_9_TO_5) == 7200


def test_seconds_between_is_negative_when_reversed():
    assert clock_seconds_between(utc(2026, 3, 4, 11), utc(2026, 3, 4, 10), None) == -3600


def test_add_and_between_are_inverse():
    start = utc(2026, 3, 5, 12, 17)
    end = add_clock_seconds(start, 50_000, BERLIN_9_TO_5)
    assert clock_seconds_between(start, end, BERLIN_9_TO_5) == pytest.approx(50_000)


def test_due_at_adds_paused_time_to_the_budget():
    assert due_at(utc(2026, 3, 4, 10), 60, 1800, None) == utc(2026, 3, 4, 11, 30)


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError):
        add_clock_seconds(datetime(2026, 3, 4, 10), 60, None)


def test_business_hours_must_be_ordered():
    with pytest.raises(ValueError):
        BusinessHours(tz="UTC", start=time(17), end=time(9))


def test_percentile_interpolates_like_percentile_cont():
    assert percentile([10, 20, 30, 40], 0.5) == 25
    assert percentile([], 0.5) is None


def test_sla_state_highlights_due_soon_and_breached():
    now = utc(2026, 1, 1, 12)
    assert sla_state(now + timedelta(minutes=5), now) == "due_soon"
    assert sla_state(now - timedelta(seconds=1), now) == "breached"
    assert sla_state(now + timedelta(hours=2), now) == "ok"
    assert sla_state(None, now) == "none"


@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    seconds=st.integers(min_value=0, max_value=30 * 86400),
)
def test_property_between_inverts_add_on_business_clock(start, seconds):
    end = add_clock_seconds(start, seconds, BERLIN_9_TO_5)
    assert end >= start
    assert clock_seconds_between(start, end, BERLIN_9_TO_5) == pytest.approx(seconds, abs=1e-6)
