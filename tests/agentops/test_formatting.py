"""The one number rule and the one duration rule, as pages and charts print them."""

from decimal import Decimal

import pytest

from agentops import formatting as f


@pytest.mark.parametrize(("value", "text"), [
    (1234567, "1,234,567"), (Decimal("1234.5"), "1,234"), (999, "999"), (None, "–"), ("n/a", "n/a"),
])
def test_counts_carry_separators_and_leave_labels_alone(value, text):
    assert f.format_count(value) == text


def test_money_and_decimals_keep_their_places_with_separators():
    assert f.format_usd(Decimal("1234.5678")) == "$1,234.57" and f.format_usd(Decimal("0.01234")) == "$0.0123"
    assert f.format_money(Decimal("1234567.891")) == "1,234,567.89"
    assert f.format_decimal(12345.678, 1) == "12,345.7" and f.format_decimal(None) == "–"


def test_latency_is_ms_under_a_second_and_seconds_above():
    assert f.format_latency(850) == "850 ms" and f.format_latency(12345) == "12.35 s"
    assert f.format_latency(1_234_567) == "1,234.57 s"


def test_template_filters_use_the_rules():
    from django.template import engines

    html = engines["django"].from_string(
        "{% load units %}{{ a|count }}|{{ b|money }}|{{ c|decimal:2 }}|{{ d|latency }}|{{ e|usd }}").render(
        {"a": 12345, "b": Decimal("9876.5"), "c": 1234.5, "d": 2360, "e": Decimal("1500")})
    assert html == "12,345|9,876.50|1,234.50|2.36 s|$1,500.00"
