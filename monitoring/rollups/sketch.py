"""A mergeable log-bucket quantile sketch (DDSketch-style) for latencies. Pure Python, no ORM.

A positive value ``x`` falls in bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``; the bucket's representative value ``2 * gamma**i / (gamma + 1)``
is within relative error ``alpha`` of every value in the bucket, so any quantile read from the
bucket counts is within ``alpha`` (1 %) of the exact order statistic. Sketches merge by adding
counts per bucket, which is what makes minute cells add up to hour and day cells exactly.

Values ``<= MIN_VALUE`` (zero-length spans) are counted in a separate zero bucket, keyed ``"z"``.
The stored form is a plain ``{bucket key: count}`` dict (JSON object keys are strings), the same
shape the SQL in ``monitoring.rollups`` builds with ``jsonb_object_agg``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from itertools import accumulate

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
# Below this (in ms) a value is "zero": a microsecond is far under anything we can act on.
MIN_VALUE = 1e-3
ZERO_KEY = "z"

Buckets = dict[str, int]


def bucket_key(value: float) -> str:
    """The bucket a value falls in (must match the SQL expression in ``sql_bucket_expression``)."""
    if value <= MIN_VALUE:
        return ZERO_KEY
    return str(math.ceil(math.log(value) / LOG_GAMMA))


def sql_bucket_expression(column: str) -> str:
    """SQL computing ``bucket_key`` of a float column, for building sketches inside PostgreSQL.

    ``column`` is a trusted identifier chosen by our code, never user input.
    """
    return (
        f"CASE WHEN {column} <= {MIN_VALUE!r} THEN '{ZERO_KEY}' "
        f"ELSE ceil(ln({column}) / {LOG_GAMMA!r})::bigint::text END"
    )


def bucket_value(key: str) -> float:
    """The representative value of a bucket (the point minimising the worst relative error)."""
    if key == ZERO_KEY:
        return 0.0
    return 2 * GAMMA ** int(key) / (GAMMA + 1)


def from_values(values: Iterable[float]) -> Buckets:
    buckets: Buckets = {}
    for value in values:
        key = bucket_key(value)
        buckets[key] = buckets.get(key, 0) + 1
    return buckets


def merge(*sketches: Mapping[str, int]) -> Buckets:
    merged: Buckets = {}
    for sketch in sketches:
        add_into(merged, sketch)
    return merged


def add_into(target: Buckets, sketch: Mapping[str, int]) -> None:
    """Add ``sketch``'s counts into ``target`` in place (the hot loop of every merge)."""
    get = target.get
    for key, count in sketch.items():
        target[key] = get(key, 0) + int(count)


def count(sketch: Mapping[str, int]) -> int:
    return sum(int(c) for c in sketch.values())


def quantiles(sketch: Mapping[str, int], qs: Iterable[float]) -> list[float | None]:
    """Quantiles ``qs`` (each in [0, 1]) in one pass; ``None`` for an empty sketch.

    Uses the lower order statistic at rank ``floor(q * (n - 1))``, as DDSketch does, so the result
    is within ``RELATIVE_ACCURACY`` of the exact value at that rank. Pages read hundreds of sketches
    of a few hundred buckets each, so the walk is a sort of integer keys, running sums and a binary
    search per quantile (C loops), not a Python loop per bucket.
    """
    wanted = list(qs)
    if any(not 0 <= q <= 1 for q in wanted):
        raise ValueError("quantiles must be between 0 and 1")
    zero = max(int(sketch.get(ZERO_KEY, 0)), 0)
    order = sorted(filter(ZERO_KEY.__ne__, sketch), key=int)
    counts = list(map(sketch.__getitem__, order))
    try:
        if counts and min(counts) < 0:  # a text count raises TypeError here
            raise TypeError
    except TypeError:
        # Not plain non-negative counts (text from elsewhere, or a bucket taken below zero): keep
        # the buckets that count.
        pairs = [(key, int(n)) for key, n in zip(order, counts, strict=True) if int(n) > 0]
        order, counts = [key for key, _ in pairs], [n for _, n in pairs]
    running = list(accumulate(counts))
    total = zero + (running[-1] if running else 0)
    if total == 0:
        return [None for _ in wanted]
    results: list[float | None] = []
    for q in wanted:
        rank = math.floor(q * (total - 1))
        if rank < zero:
            results.append(0.0)
        else:
            index = int(order[bisect_right(running, rank - zero)])
            results.append(2 * GAMMA**index / (GAMMA + 1))
    return results


def quantile(sketch: Mapping[str, int], q: float) -> float | None:
    return quantiles(sketch, [q])[0]


def exact_quantile(values: list[float], q: float) -> float:
    """The exact lower order statistic matching ``quantile``'s rank rule (for tests and the bench)."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]
