"""The checker behind the every-page number test: it must catch a raw figure and leave non-figures alone."""

from __future__ import annotations

import pytest
from django.template import engines

from tests.visible_numbers import bare_numbers, grouped_numbers


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_a_raw_value_in_a_template_is_caught_and_the_shared_filter_passes():
    raw = render("<table><tr><td>{{ value }}</td></tr></table>", value=12345)
    assert bare_numbers(raw) == ["12345"]
    shared = render("{% load units %}<table><tr><td>{{ value|count }}</td></tr></table>", value=12345)
    assert bare_numbers(shared) == [] and grouped_numbers(shared) == 1


@pytest.mark.parametrize("html", [
    "<p>1234 runs</p>", "<p>$1234.56</p>", "<p>cost 1234.5678 USD</p>", "<p>-4500</p>", "<p>(1234)</p>",
    "<p>p95 2360 ms</p>", "<li>ROI 147552 %</li>", "<p>x 1234, y</p>", "<p>5000</p>", "<p>Tokens 2800 in</p>",
])
def test_numbers_without_separators_are_found(html):
    assert bare_numbers(html), html


@pytest.mark.parametrize("html", [
    "<p>12,345 runs</p>", "<p>$1,234.56</p>", "<p>0.1234</p>", "<p>850 ms</p>", "<p>1,234.50 s</p>",
    "<p>2026-03-15 12:34:56</p>", "<p>Dec 4, 2026</p>", "<p>between 2000 and 2100</p>",  # dates, years, times
    "<p>Ticket #1234</p>", "<p>prompt v1234</p>", "<p>agent-1234 and sess-53740983</p>",  # ids, slugs
    "<p class='mono'>8a1234567f 20931234</p>", "<td class='mono small'>1234567</td>",  # trace ids, keys
    "<input value='12345'>", "<p title='12345' data-x='{\"n\": 12345}'>x</p>",  # attribute values, JSON
    "<textarea>12345</textarea>", "<script>var n = 12345;</script>", "<pre>{\"tokens\": 12345}</pre>",
    "<p>see http://localhost:8000/runs/12345/ or ops@example.com</p>", "<p>12345678901234</p>",
    "<td class='verbatim'>Refund for order 36568</td>",  # words as written, not our figures
    "<head><title>Run 12345</title></head><body><p>ok</p></body>",
])
def test_what_is_not_a_figure_is_left_alone(html):
    assert bare_numbers(html) == [], html


def test_only_body_text_counts_and_nested_hidden_elements_stay_hidden():
    html = "<html><head><title>1234</title></head><body><div class='mono'><span>1234</span></div><p>9876</p></body></html>"
    assert bare_numbers(html) == ["9876"]


def test_separated_numbers_are_counted():
    assert grouped_numbers("<p>1,234 and 12,345,678 but not 1,23 or 123</p>") == 2
