"""Lifecycle writes: promotions, demotions, second approvals, criteria and settings, the watch.

``Agent.lifecycle_stage`` changes only here (after the agent's registration). Every change is an
append-only StageEvent with who, when, why and a snapshot of the gate's criteria results.
Each service owns its transaction and locks the agent row first, so two operators acting on one
agent at once are serialised and the second sees the first's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agentops.models import Agent
from agentops.permissions import OPERATIONS, has_role
from monitoring.alerts import raised

from . import stages
from .criteria import CRITERION_LABELS, KEYS
from .evidence import measure, measure_one, snapshot
from .models import (
    WATCH_ALERT_SOURCE,
    LifecycleSettings,
    PendingPromotion,
    StageCriteria,
    StageEvent,
    WatchCheck,
    WatchFlag,
)


class LifecycleRefused(Exception):
    """A lifecycle rule refused the action; the message is safe to show to the user."""


def _require_operations(user) -> None:
    if not has_role(user, OPERATIONS):
        raise LifecycleRefused("Only the Operations role can change an agent's lifecycle stage.")


def _lock(agent: Agent) -> Agent:
    return Agent.objects.select_related("department", "owner").select_for_update(of=("self",)).get(pk=agent.pk)


def _open_pending(agent: Agent) -> PendingPromotion | None:
    return PendingPromotion.objects.filter(agent=agent, status=PendingPromotion.Status.PENDING).first()


def _resolve_flags(agent: Agent, resolution: str, now: datetime) -> None:
    WatchFlag.objects.filter(agent=agent, resolved_at__isnull=True).update(resolved_at=now, resolution=resolution)


def _apply(agent: Agent, to_stage: str, kind: str, actor, reason: str, override: bool, criteria: dict,
           now: datetime, approved_by=None) -> StageEvent:
    event = StageEvent.objects.create(
        agent=agent, kind=kind, from_stage=agent.lifecycle_stage, to_stage=to_stage, actor=actor,
        approved_by=approved_by, occurred_at=now, reason=reason, override=override, criteria=criteria,
    )
    agent.lifecycle_stage = to_stage
    agent.save(update_fields=["lifecycle_stage", "updated_at"])
    _resolve_flags(agent, f"moved to {stages.label(to_stage)}", now)
    return event


@transaction.atomic
def promote(agent: Agent, user, *, reason: str = "", override: bool = False, expected_stage: str | None = None,
            now: datetime | None = None) -> StageEvent | PendingPromotion:
    """Promote ``agent`` one rung. All criteria of the next stage must be met, or ``override`` with a reason.

    With the second-approver setting on, returns a PendingPromotion instead of changing the stage.
    ``expected_stage`` (what the user saw) refuses a promotion that someone else already made.
    """
    _require_operations(user)
    now = now or timezone.now()
    reason = reason.strip()
    agent = _lock(agent)
    current = agent.lifecycle_stage
    if expected_stage and expected_stage != current:
        raise LifecycleRefused(f"{agent.name} is in {stages.label(current)} now, not {stages.label(expected_stage)}: "
                               "someone changed it meanwhile; look again before promoting.")
    target = stages.next_stage(current)
    if target is None:
        raise LifecycleRefused(f"{agent.name} is already in {stages.label(current)}, the last stage.")
    pending = _open_pending(agent)
    if pending is not None:
        raise LifecycleRefused(f"A promotion of {agent.name} to {stages.label(pending.to_stage)} is already "
                               f"waiting for approval (requested by {pending.requested_by.get_username()}).")
    measured = measure_one(agent, target, now)
    if not measured.ready and not override:
        names = ", ".join(r.label.lower() for r in measured.failing)
        raise LifecycleRefused(f"{agent.name} does not meet the {stages.label(target)} criteria ({names}). "
                               "Promote with an override and a reason, or wait until they are met.")
    if override and not reason:
        raise LifecycleRefused("An override needs a reason: say why the agent is promoted despite its criteria.")
    override = override and not measured.ready  # an override of criteria that all pass is a plain promotion
    criteria = snapshot(measured, target)
    if LifecycleSettings.load().require_second_approver:
        return PendingPromotion.objects.create(
            agent=agent, from_stage=current, to_stage=target, requested_by=user, requested_at=now, reason=reason,
            override=override, criteria=criteria,
        )
    return _apply(agent, target, StageEvent.Kind.PROMOTION, user, reason, override, criteria, now)


@transaction.atomic
def approve(pending: PendingPromotion, user, *, now: datetime | None = None) -> StageEvent:
    """A second operations user approves a pending promotion; the criteria are measured again."""
    _require_operations(user)
    now = now or timezone.now()
    agent = _lock(pending.agent)
    pending = PendingPromotion.objects.select_for_update().get(pk=pending.pk)
    if pending.status != PendingPromotion.Status.PENDING:
        raise LifecycleRefused(f"This promotion was already {pending.get_status_display().lower()}.")
    if pending.requested_by_id == user.pk:
        raise LifecycleRefused("A different operations user must approve this promotion: you requested it.")
    if agent.lifecycle_stage != pending.from_stage:
        raise LifecycleRefused(f"{agent.name} has moved to {stages.label(agent.lifecycle_stage)} since the request; "
                               "reject it and request again.")
    measured = measure_one(agent, pending.to_stage, now)
    if not measured.ready and not pending.override:
        names = ", ".join(r.label.lower() for r in measured.failing)
        raise LifecycleRefused(f"The {stages.label(pending.to_stage)} criteria are no longer met ({names}); "
                               "reject this request, or request again with an override and a reason.")
    pending.status, pending.decided_by, pending.decided_at = PendingPromotion.Status.APPROVED, user, now
    pending.save(update_fields=["status", "decided_by", "decided_at"])
    criteria = {**snapshot(measured, pending.to_stage), "requested": pending.criteria}
    return _apply(agent, pending.to_stage, StageEvent.Kind.PROMOTION, pending.requested_by, pending.reason,
                  pending.override and not measured.ready, criteria, now, approved_by=user)


@transaction.atomic
def reject(pending: PendingPromotion, user, *, note: str = "", now: datetime | None = None) -> PendingPromotion:
    """Reject a pending promotion (or, by its requester, withdraw it). The stage stays as it is."""
    _require_operations(user)
    pending = PendingPromotion.objects.select_for_update().get(pk=pending.pk)
    if pending.status != PendingPromotion.Status.PENDING:
        raise LifecycleRefused(f"This promotion was already {pending.get_status_display().lower()}.")
    pending.status, pending.decided_by, pending.decided_at = PendingPromotion.Status.REJECTED, user, now or timezone.now()
    pending.decision_note = note.strip()
    pending.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return pending


@transaction.atomic
def demote(agent: Agent, user, to_stage: str, *, reason: str, now: datetime | None = None) -> StageEvent:
    """Move ``agent`` down to ``to_stage`` (a lower rung, or retirement). A reason is required; no gate."""
    _require_operations(user)
    now = now or timezone.now()
    reason = reason.strip()
    agent = _lock(agent)
    current = agent.lifecycle_stage
    if to_stage not in stages.demotion_targets(current):
        allowed = ", ".join(stages.label(s) for s in stages.demotion_targets(current)) or "none"
        raise LifecycleRefused(f"{agent.name} cannot be demoted from {stages.label(current)} to "
                               f"{stages.label(to_stage)} (allowed: {allowed}).")
    if not reason:
        raise LifecycleRefused("A demotion needs a reason: say why the agent moves down.")
    PendingPromotion.objects.filter(agent=agent, status=PendingPromotion.Status.PENDING).update(
        status=PendingPromotion.Status.REJECTED, decided_by=user, decided_at=now, decision_note="agent demoted")
    criteria = snapshot(measure_one(agent, current, now), current) if current in stages.GATED else {}
    return _apply(agent, to_stage, StageEvent.Kind.DEMOTION, user, reason, False, criteria, now)


# ---------------------------------------------------------------------------------------------
# Criteria and settings


def save_criteria(row: StageCriteria, user) -> StageCriteria:
    row.updated_by, row.updated_at = user, timezone.now()
    row.save()
    return row


def delete_override(row: StageCriteria) -> None:
    if row.agent_id is None and row.department_id is None:
        raise LifecycleRefused("A stage's own criteria cannot be removed; edit them instead.")
    row.delete()


def save_settings(values: dict, user) -> LifecycleSettings:
    row = LifecycleSettings.load()
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by, row.updated_at = user, timezone.now()
    row.save()
    return row


# ---------------------------------------------------------------------------------------------
# The watch


@dataclass
class WatchResult:
    checked: int = 0
    failed: int = 0
    flagged: int = 0
    cleared: int = 0
    # (alert event id, delivery kind) of watch alerts opened or resolved: the task delivers them.
    deliveries: list[tuple[int, str]] = field(default_factory=list)


WATCH_ALERT_RULE_NAME = "Lifecycle watch: stage criteria failing"


def _watch_message(agent: Agent, flag: WatchFlag) -> str:
    failing = ", ".join(CRITERION_LABELS.get(k, k).lower() for k in flag.failing) or "criteria"
    return (f"Lifecycle watch: {agent.name} has failed its {stages.label(flag.stage)} criteria for {flag.days:,} "
            f"days ({failing}); suggested: demote to {stages.label(flag.suggested_stage)}")


@transaction.atomic
def sync_watch_alerts(now: datetime) -> list[tuple[int, str]]:
    """Every open watch flag has an open alert of the watch's rule; every other watch alert resolves
    (flag cleared, dismissed, or the agent moved stage). Idempotent: run by every watch."""
    rule = raised.rule_for(WATCH_ALERT_SOURCE, WATCH_ALERT_RULE_NAME)
    flags = list(WatchFlag.objects.filter(resolved_at__isnull=True).select_related("agent"))
    deliveries = raised.resolve_alerts(rule, [f.agent_id for f in flags], now)
    for flag in flags:
        deliveries += raised.raise_alert(rule, flag.agent, _watch_message(flag.agent, flag), flag.days, now)
    return deliveries


@transaction.atomic
def run_watch(now: datetime | None = None) -> WatchResult:
    """Check every Integrate/Scale/Optimize agent against its current stage's criteria for today.

    Records one WatchCheck per agent and UTC day (re-running the same day updates it). An agent that
    failed on each of the last ``watch_days`` days (in the same stage) gets an open WatchFlag suggesting
    a demotion one rung down; passing again resolves its flag.
    """
    now = now or timezone.now()
    today = now.date()
    days_needed = LifecycleSettings.load().watch_days
    watched = [s for s in stages.LADDER if stages.previous_stage(s)]
    agents = list(Agent.objects.filter(lifecycle_stage__in=watched, discovered=False)
                  .select_related("department", "owner"))
    measured = measure(agents, {a.id: a.lifecycle_stage for a in agents}, now, with_links=False)
    result = WatchResult()
    for agent in agents:
        m = measured[agent.id]
        failing = [r.key for r in m.failing]
        WatchCheck.objects.update_or_create(
            agent=agent, day=today,
            defaults={"stage": agent.lifecycle_stage, "passed": not failing, "failing": failing, "checked_at": now},
        )
        result.checked += 1
        result.failed += bool(failing)
    first = today - timedelta(days=days_needed - 1)
    history: dict[int, list[WatchCheck]] = {}
    for check in WatchCheck.objects.filter(agent__in=agents, day__gte=first).order_by("day"):
        history.setdefault(check.agent_id, []).append(check)
    open_flags = {f.agent_id: f for f in WatchFlag.objects.filter(agent__in=agents, resolved_at__isnull=True)}
    # After a dismissal the agent must fail another full run of days before it is flagged again.
    dismissed = dict(WatchFlag.objects.filter(agent__in=agents, resolution__startswith="dismissed")
                     .values("agent_id").annotate(last=Max("resolved_at")).values_list("agent_id", "last").order_by())
    for agent in agents:
        checks = [ch for ch in history.get(agent.id, [])
                  if agent.id not in dismissed or ch.day > dismissed[agent.id].date()]
        failed_run = (len(checks) == days_needed and all(not ch.passed and ch.stage == agent.lifecycle_stage
                                                         for ch in checks))
        flag = open_flags.get(agent.id)
        if failed_run and flag is None:
            keys = sorted({k for ch in checks for k in ch.failing}, key=KEYS.index)
            WatchFlag.objects.create(agent=agent, stage=agent.lifecycle_stage,
                                     suggested_stage=stages.previous_stage(agent.lifecycle_stage),
                                     failing_since=first, days=days_needed, failing=keys, opened_at=now)
            result.flagged += 1
        elif flag is not None and checks and checks[-1].day == today and checks[-1].passed:
            flag.resolved_at, flag.resolution = now, "criteria met again"
            flag.save(update_fields=["resolved_at", "resolution"])
            result.cleared += 1
    result.deliveries = sync_watch_alerts(now)
    return result


@transaction.atomic
def dismiss_flag(flag: WatchFlag, user, note: str = "") -> WatchFlag:
    """Operations decided to keep the agent where it is; the watch may flag it again later."""
    _require_operations(user)
    flag = WatchFlag.objects.select_for_update().get(pk=flag.pk)
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolution = f"dismissed by {user.get_username()}" + (f": {note.strip()}" if note.strip() else "")
        flag.save(update_fields=["resolved_at", "resolution"])
    return flag
