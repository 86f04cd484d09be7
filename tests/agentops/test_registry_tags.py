from decimal import Decimal

import pytest

from agentops.templatetags.registry_tags import trim_decimal


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("2.500000"), 2, "2.50"),
        (Decimal("0.075000"), 2, "0.075"),
        (Decimal("15.000000"), 2, "15.00"),
        (Decimal("95.00"), 0, "95"),
        (Decimal("0.800"), 0, "0.8"),
        (Decimal("100"), 0, "100"),
        (None, 2, ""),
    ],
)
def test_trim_decimal_drops_trailing_zeros_but_keeps_minimum_places(value, places, expected):
    assert trim_decimal(value, places) == expected
