"""The shared time range: presets, custom from/to, old ``days`` links, the form every page uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from monitoring import timerange

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def test_preset_range_ends_now():
    time_range = timerange.parse_range(QueryDict("range=1h"), now=NOW)
    assert (time_range.start, time_range.end) == (NOW - timedelta(hours=1), NOW)
    assert time_range.previous().end == time_range.start


def test_custom_range_without_end_runs_until_now():
    time_range = timerange.parse_range(QueryDict("range=custom&from=2026-03-09T08:00"), now=NOW)
    assert time_range.start == datetime(2026, 3, 9, 8, tzinfo=UTC) and time_range.end == NOW


@pytest.mark.parametrize("query", ["range=custom&from=2026-03-11T08:00", "range=custom&from=2020-01-01T00:00",
                                   "range=forever"])
def test_unusable_ranges_raise_a_message(query):
    with pytest.raises(timerange.InvalidRange):
        timerange.parse_range(QueryDict(query), now=NOW)


@pytest.mark.parametrize(("days", "key"), [("1", "24h"), ("7", "7d"), ("30", "30d"), ("90", "90d")])
def test_old_days_links_map_to_the_same_range(days, key):
    time_range = timerange.parse_range(QueryDict(f"days={days}"), now=NOW)
    assert time_range.key == key and time_range.start == NOW - timedelta(days=int(days))


def test_range_wins_over_days_and_default_applies_without_either():
    assert timerange.parse_range(QueryDict("range=1h&days=30"), now=NOW).key == "1h"
    assert timerange.parse_range(QueryDict(""), now=NOW, default="30d").key == "30d"


def test_unknown_days_is_a_message_not_a_guess():
    with pytest.raises(timerange.InvalidRange, match="“5” days"):
        timerange.parse_range(QueryDict("days=5"), now=NOW)


def test_range_query_asks_for_the_same_range_again():
    preset = timerange.parse_range(QueryDict("range=7d"), now=NOW)
    assert timerange.range_query(preset) == "range=7d"
    custom = timerange.parse_range(QueryDict("range=custom&from=2026-03-09T08:00&to=2026-03-10T08:00"), now=NOW)
    again = timerange.parse_range(QueryDict(timerange.range_query(custom)), now=NOW)
    assert (again.start, again.end) == (custom.start, custom.end)


class _Form(timerange.TimeRangeForm):
    default_range = "7d"


def test_form_gives_the_range_or_a_form_error():
    form = _Form(QueryDict("days=30"), now=NOW)
    assert form.is_valid() and form.window() == (NOW - timedelta(days=30), NOW)
    assert form.range_key == "30d" and form.range_query == "range=30d"
    bad = _Form(QueryDict("range=custom&from=nonsense"), now=NOW)
    assert not bad.is_valid() and "not a date and time" in bad.non_field_errors()[0]
    assert bad.range_query == ""
    assert _Form(QueryDict(""), now=NOW).is_valid()
