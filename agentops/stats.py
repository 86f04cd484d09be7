"""Small statistics for comparing prompt versions. Pure: no ORM, no third-party maths library.

In agentops (the lowest layer) so the production comparison (insights) and experiment comparison
(evals), sibling apps that may not import each other, use the very same tests.

- Wilson score interval for a success rate (well behaved near 0% and 100%, unlike the normal interval).
- Two-proportion z-test (pooled) for a difference in success rate.
- Welch's t-test for a difference in mean quality score (unequal variances, unequal sizes).

Every test refuses to answer below sample-size thresholds and says so: a p-value from five runs
would look precise and mean nothing, and operators act on what this page tells them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
ALPHA = 0.05
# Below these sizes we say "too few samples to tell" instead of giving a p-value.
MIN_RUNS_PER_SIDE = 30
MIN_OUTCOMES_PER_SIDE = 5  # successes and failures each, so the normal approximation holds
MIN_SCORES_PER_SIDE = 10

TOO_FEW = "too few samples to tell"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """The outcome of a two-sample test, ready to show. ``p_value`` is None when we could not tell."""

    difference: float | None  # b - a, in the metric's own unit (a proportion, or score points)
    p_value: float | None
    verdict: str

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Interval | None:
    """95% Wilson score interval for ``successes`` out of ``n``; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_test(success_a: int, n_a: int, success_b: int, n_b: int) -> Comparison:
    """Pooled two-proportion z-test of success rate B vs A."""
    if min(n_a, n_b) < MIN_RUNS_PER_SIDE or min(
        success_a, n_a - success_a, success_b, n_b - success_b
    ) < MIN_OUTCOMES_PER_SIDE:
        diff = (success_b / n_b - success_a / n_a) if n_a and n_b else None
        return Comparison(diff, None, TOO_FEW)
    p_a, p_b = success_a / n_a, success_b / n_b
    pooled = (success_a + success_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p_value = normal_two_sided_p((p_b - p_a) / se)
    return Comparison(p_b - p_a, p_value, _verdict(p_b - p_a, p_value))


def welch_t_test(
    mean_a: float | None, sd_a: float | None, n_a: int, mean_b: float | None, sd_b: float | None, n_b: int
) -> Comparison:
    """Welch's unequal-variance t-test of mean B vs A (``sd`` is the sample standard deviation)."""
    if min(n_a, n_b) < MIN_SCORES_PER_SIDE or None in (mean_a, mean_b, sd_a, sd_b):
        diff = (mean_b - mean_a) if mean_a is not None and mean_b is not None else None
        return Comparison(diff, None, TOO_FEW)
    var_a, var_b = sd_a * sd_a / n_a, sd_b * sd_b / n_b
    diff = mean_b - mean_a
    if var_a + var_b == 0:
        # Both samples constant: any difference is certain, no difference is certainly none.
        p_value = 1.0 if diff == 0 else 0.0
        return Comparison(diff, p_value, _verdict(diff, p_value))
    t = diff / math.sqrt(var_a + var_b)
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    p_value = student_t_two_sided_p(t, df)
    return Comparison(diff, p_value, _verdict(diff, p_value))


def _verdict(diff: float, p_value: float) -> str:
    if p_value >= ALPHA:
        return f"no clear difference (p = {p_value:.2f})"
    direction = "higher" if diff > 0 else "lower"
    return f"B is {direction}, unlikely to be chance (p = {_fmt_p(p_value)})"


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def student_t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t: I_x(df/2, 1/2) with x = df / (df + t²)."""
    x = df / (df + t * t)
    return regularized_incomplete_beta(df / 2, 0.5, x)


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), using the symmetry for fast convergence."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1 - x) / b


def _beta_continued_fraction(a: float, b: float, x: float, max_iter: int = 300, eps: float = 1e-14) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return result
