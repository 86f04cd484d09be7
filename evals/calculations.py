"""Comparing two experiments: case by case and in aggregate. Pure: no ORM.

Aggregates use the statistics of the production prompt-comparison page (``agentops.stats``, shared
with insights): Wilson intervals and the two-proportion test for pass rates, Welch's t-test for mean scores, with
the same refusal to give a p-value on too few cases.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from agentops import stats

NEWLY_FAILING, NEWLY_PASSING, BETTER, WORSE, SAME = "newly_failing", "newly_passing", "better", "worse", "same"
ORDER = (NEWLY_FAILING, WORSE, NEWLY_PASSING, BETTER, SAME)
EPSILON = 1e-9


@dataclass(frozen=True)
class Outcome:
    passed: bool
    score: float | None


def classify(a: Outcome, b: Outcome) -> str:
    if a.passed and not b.passed:
        return NEWLY_FAILING
    if b.passed and not a.passed:
        return NEWLY_PASSING
    if a.score is not None and b.score is not None:
        if b.score > a.score + EPSILON:
            return BETTER
        if b.score < a.score - EPSILON:
            return WORSE
    return SAME


@dataclass(frozen=True)
class Side:
    n: int
    passed: int
    pass_interval: stats.Interval | None
    mean_score: float | None
    sd_score: float | None
    scored: int
    score_interval: stats.Interval | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.n if self.n else None


def mean_interval(values: list[float]) -> stats.Interval | None:
    """95 % normal interval of a mean (clipped to the 0-1 score scale); None below two values."""
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = stats.Z_95 * sd / math.sqrt(len(values))
    return stats.Interval(max(0.0, mean - half), min(1.0, mean + half))


def side(outcomes: list[Outcome]) -> Side:
    scores = [o.score for o in outcomes if o.score is not None]
    passed = sum(1 for o in outcomes if o.passed)
    return Side(
        n=len(outcomes), passed=passed, pass_interval=stats.wilson_interval(passed, len(outcomes)),
        mean_score=statistics.fmean(scores) if scores else None,
        sd_score=statistics.stdev(scores) if len(scores) > 1 else None, scored=len(scores),
        score_interval=mean_interval(scores),
    )


@dataclass(frozen=True)
class Aggregate:
    a: Side
    b: Side
    pass_rate: stats.Comparison
    score: stats.Comparison
    counts: dict[str, int]


def aggregate(pairs: list[tuple[Outcome, Outcome]]) -> Aggregate:
    """Both experiments on the cases they share (``pairs``: (A, B) per case)."""
    a, b = side([p[0] for p in pairs]), side([p[1] for p in pairs])
    counts = dict.fromkeys(ORDER, 0)
    for pa, pb in pairs:
        counts[classify(pa, pb)] += 1
    return Aggregate(
        a=a, b=b, pass_rate=stats.two_proportion_test(a.passed, a.n, b.passed, b.n),
        score=stats.welch_t_test(a.mean_score, a.sd_score, a.scored, b.mean_score, b.sd_score, b.scored),
        counts=counts,
    )
