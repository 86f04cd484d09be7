"""Statistics for the compare page, checked against values computed by hand / reference tables."""

from __future__ import annotations

import math

import pytest

from agentops import stats


def test_wilson_interval_matches_reference_values():
    # 8 of 10: the textbook Wilson 95% interval is [0.490, 0.943].
    interval = stats.wilson_interval(8, 10)
    assert interval.low == pytest.approx(0.4902, abs=1e-3)
    assert interval.high == pytest.approx(0.9433, abs=1e-3)


def test_wilson_interval_stays_inside_zero_and_one():
    assert stats.wilson_interval(0, 5).low == 0.0
    assert stats.wilson_interval(5, 5).high == pytest.approx(1.0)


def test_wilson_interval_of_no_runs_is_none():
    assert stats.wilson_interval(0, 0) is None


def test_two_proportion_test_matches_hand_computation():
    # 80/100 vs 90/100: pooled p = .85, se = sqrt(.85*.15*.02) = .0505, z = 1.980, p = .0477.
    result = stats.two_proportion_test(80, 100, 90, 100)
    assert result.difference == pytest.approx(0.10)
    assert result.p_value == pytest.approx(0.0477, abs=5e-4)
    assert result.significant


def test_two_proportion_test_says_too_few_under_threshold():
    result = stats.two_proportion_test(8, 10, 10, 10)
    assert result.p_value is None
    assert result.verdict == stats.TOO_FEW


def test_two_proportion_test_without_a_difference_is_not_significant():
    result = stats.two_proportion_test(45, 60, 45, 60)
    assert result.p_value == pytest.approx(1.0)
    assert not result.significant


def test_student_t_p_value_matches_table():
    # t = 2.228 with 10 degrees of freedom is the two-sided 5% critical value.
    assert stats.student_t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=5e-4)
    # Large df approaches the normal distribution.
    assert stats.student_t_two_sided_p(1.96, 1e6) == pytest.approx(0.05, abs=5e-4)


def test_welch_t_test_matches_hand_computation():
    # a: mean .70 sd .10 n 20; b: mean .80 sd .15 n 25 -> t = 2.670, df = 41.6, p ~ .0108.
    result = stats.welch_t_test(0.70, 0.10, 20, 0.80, 0.15, 25)
    se = math.sqrt(0.01 / 20 + 0.0225 / 25)
    assert result.difference == pytest.approx(0.10)
    assert result.p_value == pytest.approx(stats.student_t_two_sided_p(0.10 / se, 41.6), rel=0.02)
    assert result.p_value == pytest.approx(0.0108, abs=1e-3)
    assert "higher" in result.verdict


def test_welch_t_test_says_too_few_under_threshold():
    result = stats.welch_t_test(0.7, 0.1, 4, 0.9, 0.1, 50)
    assert result.p_value is None and result.verdict == stats.TOO_FEW
    assert result.difference == pytest.approx(0.2)
