"""Demo seed: history through the real normaliser and ingest, idempotent."""

from __future__ import annotations

import io

import pytest

from demo.monitoring import seed
from monitoring.models import Escalation, Run

pytestmark = pytest.mark.django_db


def test_seed_builds_history_once():
    out = io.StringIO()
    seed(out, runs=120, days=2)
    runs = Run.objects.count()
    assert runs == 120 and Escalation.objects.exists()
    assert Run.objects.filter(status="error").exists() and Run.objects.exclude(quality_score=None).count() == runs
    seed(out, runs=120, days=2)
    assert Run.objects.count() == runs and "already present" in out.getvalue()


def test_seeded_sub_agents_that_are_never_called_directly_have_invocations_and_no_runs():
    from django.db.models import Count, Sum

    from demo.simulator import SUB_AGENTS_ONLY
    from monitoring.models import Invocation, RollupCell
    from tests.factories import make_price

    for model in ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"):
        make_price(model)
    seed(io.StringIO(), runs=200, days=1)
    assert not Run.objects.filter(agent__slug__in=SUB_AGENTS_ONLY).exists()
    own = {row["agent__slug"]: row for row in Invocation.objects.filter(agent__slug__in=SUB_AGENTS_ONLY)
           .values("agent__slug").annotate(n=Count("id"), cost=Sum("cost"), nested=Count("caller_agent"))}
    assert set(own) == set(SUB_AGENTS_ONLY)
    assert all(row["n"] == row["nested"] and row["cost"] > 0 for row in own.values()), own
    assert Invocation.objects.filter(agent__slug="fraud-check-agent", caller_agent__slug="refund-agent").exists()
    cells = RollupCell.objects.filter(tier="d", agent__slug__in=SUB_AGENTS_ONLY)
    assert sum(c.runs for c in cells) == sum(row["n"] for row in own.values())
