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
from collections.abc import Iterable, Mapping

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
    is within ``RELATIVE_ACCURACY`` of the exact value at that rank.
    """
    wanted = list(qs)
    if any(not 0 <= q <= 1 for q in wanted):
        raise ValueError("quantiles must be between 0 and 1")
    # (bucket index, count) in value order; the zero bucket sorts first (index -inf, value 0).
    ordered: list[tuple[float, int]] = []
    total = 0
    for key, raw in sketch.items():
        n = int(raw)
        if n > 0:
            ordered.append((-math.inf if key == ZERO_KEY else int(key), n))
            total += n
    if total == 0:
        return [None for _ in wanted]
    ordered.sort()
    # Answer the quantiles in rank order, walking the buckets once.
    ranked = sorted(range(len(wanted)), key=lambda i: wanted[i])
    results: list[float | None] = [None] * len(wanted)
    seen = 0
    position = 0
    for i in ranked:
        rank = math.floor(wanted[i] * (total - 1))
        while seen + ordered[position][1] <= rank:
            seen += ordered[position][1]
            position += 1
        index = ordered[position][0]
        results[i] = 0.0 if index == -math.inf else 2 * GAMMA ** int(index) / (GAMMA + 1)
    return results


def quantile(sketch: Mapping[str, int], q: float) -> float | None:
    return quantiles(sketch, [q])[0]


def exact_quantile(values: list[float], q: float) -> float:
    """The exact lower order statistic matching ``quantile``'s rank rule (for tests and the bench)."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]
