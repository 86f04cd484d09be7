"""Promotion, override, second approver, demotion and the append-only history."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from agentops.models import Agent
from lifecycle import services
from lifecycle.models import AppendOnlyError, LifecycleSettings, PendingPromotion, StageEvent, WatchFlag
from tests.conftest import make_user
from tests.factories import make_agent

from .factories import NOW, healthy_days

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_pilot(ops_user):
    """A Pilot agent meeting every Integrate criterion (no evals app: the experiment is skipped)."""
    agent = make_agent(owner=ops_user, lifecycle_stage="pilot")
    healthy_days(agent, 13, runs=20)
    return agent


@pytest.fixture
def ops2(db):
    return make_user("oscar", "Operations")


@pytest.fixture
def two_approvers(db):
    LifecycleSettings.objects.update_or_create(pk=1, defaults={"require_second_approver": True})


def test_promotion_with_all_criteria_met_moves_the_stage_and_records_an_event(frozen, ready_pilot, ops_user):
    event = services.promote(ready_pilot, ops_user, reason="pilot went well")
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "integrate"
    assert (event.kind, event.from_stage, event.to_stage, event.actor, event.override) == (
        "promotion", "pilot", "integrate", ops_user, False)
    assert event.occurred_at == NOW and event.reason == "pilot went well"
    snapshot = event.criteria
    assert snapshot["stage"] == "integrate" and snapshot["all_met"] is True
    assert {r["key"] for r in snapshot["results"]} >= {"runs", "slo", "owner", "handoff_rate"}
    assert snapshot["criteria"]["min_runs"] == 200


def test_promotion_with_failing_criteria_is_refused_without_an_override(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="pilot")  # no runs at all
    with pytest.raises(services.LifecycleRefused, match="does not meet the Integrate criteria"):
        services.promote(agent, ops_user)
    agent.refresh_from_db()
    assert agent.lifecycle_stage == "pilot" and not StageEvent.objects.exists()


def test_an_override_needs_a_reason_and_is_recorded_as_one(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="pilot")
    with pytest.raises(services.LifecycleRefused, match="needs a reason"):
        services.promote(agent, ops_user, override=True, reason="  ")
    event = services.promote(agent, ops_user, override=True, reason="launch deadline agreed with the COO")
    assert event.override is True and event.criteria["all_met"] is False
    assert any(r["passed"] is False for r in event.criteria["results"])


def test_an_override_on_an_agent_that_meets_everything_is_a_plain_promotion(frozen, ready_pilot, ops_user):
    event = services.promote(ready_pilot, ops_user, override=True, reason="just in case")
    assert event.override is False


def test_non_operations_users_cannot_promote(frozen, ready_pilot, reviewer):
    with pytest.raises(services.LifecycleRefused, match="Operations role"):
        services.promote(ready_pilot, reviewer)


def test_a_stale_expected_stage_is_refused(frozen, ready_pilot, ops_user):
    services.promote(ready_pilot, ops_user)
    with pytest.raises(services.LifecycleRefused, match="someone changed it meanwhile"):
        services.promote(ready_pilot, ops_user, expected_stage="pilot")


def test_the_last_stage_cannot_be_promoted(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="optimize")
    with pytest.raises(services.LifecycleRefused, match="last stage"):
        services.promote(agent, ops_user)


def test_with_a_second_approver_the_promotion_waits_for_a_different_operations_user(
        frozen, ready_pilot, ops_user, ops2, two_approvers):
    pending = services.promote(ready_pilot, ops_user, reason="ready")
    assert isinstance(pending, PendingPromotion) and pending.status == "pending"
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "pilot" and not StageEvent.objects.exists()
    with pytest.raises(services.LifecycleRefused, match="already waiting for approval"):
        services.promote(ready_pilot, ops2)
    with pytest.raises(services.LifecycleRefused, match="different operations user"):
        services.approve(pending, ops_user)
    event = services.approve(pending, ops2)
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "integrate"
    assert (event.actor, event.approved_by) == (ops_user, ops2)
    assert event.criteria["requested"]["all_met"] is True
    with pytest.raises(services.LifecycleRefused, match="already approved"):
        services.approve(pending, ops2)


def test_approval_rechecks_the_criteria(frozen, ready_pilot, ops_user, ops2, two_approvers):
    pending = services.promote(ready_pilot, ops_user)
    Agent.objects.filter(pk=ready_pilot.pk).update(owner=None)  # the owner left meanwhile
    with pytest.raises(services.LifecycleRefused, match="no longer met"):
        services.approve(pending, ops2)


def test_an_overridden_request_can_be_approved_although_criteria_fail(frozen, ops_user, ops2, two_approvers):
    agent = make_agent(owner=ops_user, lifecycle_stage="pilot")
    pending = services.promote(agent, ops_user, override=True, reason="board decision")
    event = services.approve(pending, ops2)
    assert event.override is True and event.approved_by == ops2


def test_rejecting_keeps_the_stage(frozen, ready_pilot, ops_user, ops2, two_approvers):
    pending = services.promote(ready_pilot, ops_user)
    services.reject(pending, ops2, note="wait for the quarterly review")
    ready_pilot.refresh_from_db()
    pending.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "pilot" and pending.status == "rejected"


def test_demotion_needs_a_reason_and_a_lower_stage(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="scale")
    with pytest.raises(services.LifecycleRefused, match="needs a reason"):
        services.demote(agent, ops_user, "integrate", reason="")
    with pytest.raises(services.LifecycleRefused, match="cannot be demoted"):
        services.demote(agent, ops_user, "optimize", reason="x")
    event = services.demote(agent, ops_user, "integrate", reason="SLO breaches all week")
    agent.refresh_from_db()
    assert agent.lifecycle_stage == "integrate" and event.kind == "demotion"
    assert event.criteria["stage"] == "scale"  # why: the stage it left


def test_a_stage_change_resolves_the_watch_flag(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="scale")
    WatchFlag.objects.create(agent=agent, stage="scale", suggested_stage="integrate",
                             failing_since=NOW.date() - timedelta(days=6), days=7)
    services.demote(agent, ops_user, "integrate", reason="the watch was right")
    flag = WatchFlag.objects.get()
    assert flag.resolved_at == NOW and "Integrate" in flag.resolution


def test_stage_events_are_append_only(frozen, ready_pilot, ops_user):
    event = services.promote(ready_pilot, ops_user)
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    # The database refuses too, for code that bypasses the model.
    with pytest.raises(IntegrityError), transaction.atomic():
        StageEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        StageEvent.objects.filter(pk=event.pk).delete()
    assert StageEvent.objects.get(pk=event.pk).reason == ""


def test_history_accumulates_one_event_per_change(frozen, ready_pilot, ops_user):
    services.promote(ready_pilot, ops_user)
    services.demote(ready_pilot, ops_user, "pilot", reason="back to pilot")
    services.demote(ready_pilot, ops_user, "retired", reason="replaced")
    assert list(StageEvent.objects.filter(agent=ready_pilot).order_by("id").values_list("from_stage", "to_stage")) == [
        ("pilot", "integrate"), ("integrate", "pilot"), ("pilot", "retired")]
