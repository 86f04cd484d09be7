"""The latency sketch: relative accuracy against exact percentiles, and exact merging."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.rollups import sketch

QS = (0.5, 0.9, 0.95, 0.99)


def _relative_error(estimate: float, exact: float) -> float:
    return abs(estimate - exact) / exact


def test_percentiles_on_lognormal_latencies_are_within_one_percent():
    rng = random.Random(7)
    values = [rng.lognormvariate(7, 1.2) for _ in range(50_000)]  # ~1 s median, long tail
    estimates = sketch.quantiles(sketch.from_values(values), QS)
    for q, estimate in zip(QS, estimates, strict=True):
        assert _relative_error(estimate, sketch.exact_quantile(values, q)) <= sketch.RELATIVE_ACCURACY


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=3_600_000, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from(QS + (0.0, 1.0)))
def test_any_quantile_of_any_data_is_within_one_percent(values, q):
    estimate = sketch.quantile(sketch.from_values(values), q)
    assert _relative_error(estimate, sketch.exact_quantile(values, q)) <= sketch.RELATIVE_ACCURACY + 1e-12


def test_merged_sketches_equal_the_sketch_of_all_values():
    rng = random.Random(3)
    parts = [[rng.uniform(5, 9000) for _ in range(500)] for _ in range(4)]
    merged = sketch.merge(*(sketch.from_values(p) for p in parts))
    assert merged == sketch.from_values([v for p in parts for v in p])


def test_zero_durations_go_to_the_zero_bucket_and_read_back_as_zero():
    buckets = sketch.from_values([0.0, 0.0, 0.0, 50.0])
    assert buckets[sketch.ZERO_KEY] == 3
    assert sketch.quantile(buckets, 0.5) == 0.0


def test_empty_sketch_has_no_quantiles():
    assert sketch.quantiles({}, [0.5, 0.99]) == [None, None]


def test_quantile_outside_zero_one_is_rejected():
    with pytest.raises(ValueError):
        sketch.quantile({"1": 1}, 1.5)


def test_string_keyed_counts_from_json_are_accepted():
    stored = {"300": 2, "350": "1"}  # counts may come back from SQL as strings
    assert sketch.count(stored) == 3
    assert sketch.quantile(stored, 1.0) == pytest.approx(sketch.bucket_value("350"))
