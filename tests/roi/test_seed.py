"""The demo seed: a ledger with a reasoned mid-period change, budgets, history; a second run adds nothing."""

from __future__ import annotations

import io

import pytest

from demo import roi as roi_seed
from demo.registry import seed_registry
from monitoring.models import Run
from roi.models import AssumptionRow, Budget

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_populates_history():
    seed_registry(io.StringIO())
    roi_seed.seed(io.StringIO())
    counts = (AssumptionRow.objects.count(), Budget.objects.count(), Run.objects.count())
    assert counts[0] > 20 and counts[1] > 0 and counts[2] > 1000
    change = AssumptionRow.objects.filter(previous__isnull=False, effective_from__day=15).first()
    assert change is not None and "pay review" in change.reason
    months = Run.objects.filter(name=roi_seed.HISTORY_RUN_NAME).dates("started_at", "month")
    assert len(months) >= 12
    # Sub-agents that are only ever invoked by other agents start no trace, in the history either.
    from demo.simulator import SUB_AGENTS_ONLY

    assert not Run.objects.filter(agent__slug__in=SUB_AGENTS_ONLY).exists()

    roi_seed.seed(io.StringIO())
    assert (AssumptionRow.objects.count(), Budget.objects.count(), Run.objects.count()) == counts
