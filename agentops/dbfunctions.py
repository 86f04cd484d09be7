"""PostgreSQL expressions shared by the apps' queries."""

from __future__ import annotations

from django.db.models import Aggregate, FloatField


class PercentileCont(Aggregate):
    """``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``: exact percentiles over a bounded row set
    (tickets of a period, one agent's runs by prompt version). Dashboards never use it over raw
    spans: they merge rollup sketches instead."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        if not 0 <= percentile <= 1:
            raise ValueError("percentile must be within 0..1")
        super().__init__(expression, percentile=float(percentile), **extra)
