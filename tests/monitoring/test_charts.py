"""Chart builders: one trace per series, SLO targets as lines, prompt versions as markers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from monitoring.dashboards import charts
from monitoring.rollups import sketch
from monitoring.rollups.queries import Point, Summary

T0 = datetime(2026, 3, 10, tzinfo=UTC)


def _points() -> list[Point]:
    return [Point(T0 + timedelta(hours=i), Summary(runs=10, errors=i, cost=Decimal("0.5"), input_tokens=100,
                                                   latency=sketch.from_values([100.0 * (i + 1)] * 10)))
            for i in range(3)]


def test_latency_chart_has_three_percentiles_and_the_target_line():
    fig = json.loads(charts.latency_chart(_points(), target_ms=250).to_json())
    assert [t["name"] for t in fig["data"]] == ["p50", "p95", "p99"]
    assert any(s.get("y0") == 250 for s in fig["layout"]["shapes"])


def test_prompt_changes_are_drawn_as_labelled_markers():
    fig = json.loads(charts.volume_chart(_points(), [(T0 + timedelta(hours=1), "v4")]).to_json())
    assert any(a["text"] == "v4" for a in fig["layout"]["annotations"])


def test_cost_chart_plots_cost_per_run_from_the_cells():
    fig = json.loads(charts.cost_chart(_points()).to_json())
    cost = next(t for t in fig["data"] if t["name"] == "cost/run")
    assert cost["y"] == [0.05, 0.05, 0.05]


def test_figures_carry_no_plotly_template():
    # Keeps each refresh small: the default template alone is ~8 KB of JSON.
    assert len(charts.quality_chart(_points(), floor=0.8).to_json()) < 4000


def test_agent_charts_share_the_chosen_time_range(ops_client):
    import json
    from datetime import datetime, timedelta

    from django.urls import reverse

    from tests.factories import make_agent

    agent = make_agent("Ranged Agent")
    response = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug]),
                              {"range": "custom", "from": "2026-11-01T00:00", "to": "2026-11-02T00:00"})
    ranges = {tuple(json.loads(spec)["layout"]["xaxis"]["range"]) for _name, spec in response.context["figures"]}
    assert len(ranges) == 1  # all four charts on the same axis
    start, end = (datetime.fromisoformat(x) for x in ranges.pop())
    assert end - start == timedelta(days=1)
