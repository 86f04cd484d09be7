"""Demo data for the lifecycle: a stage history behind each agent's current stage, a department and
an agent override, and a watch flag on an agent that fails its stage's criteria (so the board shows all states).

Idempotent: agents that already have stage events are left alone; the override and the flag are
looked up before they are created.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from decimal import Decimal
from typing import TextIO

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agentops.models import Agent, Department
from lifecycle import stages
from lifecycle.evidence import measure
from lifecycle.models import LifecycleSettings, StageCriteria, StageEvent, WatchCheck, WatchFlag

REASONS = {
    stages.INTEGRATE: "Pilot met its volume and SLO targets; moving into the live workflow.",
    stages.SCALE: "Stable in the workflow with a low handoff rate; rolling out to the other teams.",
    stages.OPTIMIZE: "Running at scale; the focus is now cost and quality.",
    stages.RETIRED: "Replaced by a newer agent; kept for its history.",
}


def _path(stage: str) -> list[str]:
    """The stages an agent went through to reach ``stage``, starting in Pilot."""
    if stage == stages.RETIRED:
        return [stages.PILOT, stages.INTEGRATE, stages.RETIRED]
    return list(stages.LADDER[: stages.LADDER.index(stage) + 1])


def _history(agent: Agent, actor: User, now) -> int:
    seed = zlib.crc32(agent.slug.encode())
    path = _path(agent.lifecycle_stage)
    # Days spent in each finished stage, then in the current one; varied per agent but repeatable.
    stays = [20 + seed % 25, 35 + seed % 30, 60 + seed % 40][: len(path) - 1]
    current = 10 + seed % 50
    moment = now - timedelta(days=sum(stays) + current)
    Agent.objects.filter(pk=agent.pk).update(created_at=moment)
    events = []
    for (before, after), stay in zip(zip(path, path[1:], strict=False), stays, strict=True):
        moment += timedelta(days=stay)
        kind = StageEvent.Kind.DEMOTION if after == stages.RETIRED else StageEvent.Kind.PROMOTION
        events.append(StageEvent(agent=agent, kind=kind, from_stage=before, to_stage=after, actor=actor,
                                 occurred_at=moment, reason=REASONS[after],
                                 criteria={"stage": after, "note": "demo history: no measured snapshot"}))
    StageEvent.objects.bulk_create(events)
    return len(events)


def _overrides(actor: User) -> int:
    """A department override (Customer Support hands off more by design) and an agent override (an
    internal pilot with sparse traffic and no eval set yet), which makes that pilot ready on the board."""
    created = 0
    support = Department.objects.filter(name="Customer Support").first()
    if support is not None and not StageCriteria.objects.filter(stage=stages.SCALE, department=support).exists():
        StageCriteria.objects.create(stage=stages.SCALE, department=support, max_handoff_rate=Decimal("25"),
                                     updated_by=actor)
        created += 1
    pilot = Agent.objects.filter(slug="hr-policy-bot").first()
    if pilot is not None and not StageCriteria.objects.filter(stage=stages.INTEGRATE, agent=pilot).exists():
        StageCriteria.objects.create(stage=stages.INTEGRATE, agent=pilot, slo_days_required=3,
                                     check_experiment=False, updated_by=actor)
        created += 1
    return created


def _flag(now) -> int:
    if WatchFlag.objects.exists():
        return 0
    agents = list(Agent.objects.filter(lifecycle_stage__in=[stages.SCALE, stages.OPTIMIZE], discovered=False)
                  .select_related("department", "owner").order_by("name"))
    measured = measure(agents, {a.id: a.lifecycle_stage for a in agents}, now, with_links=False)
    failing = next((a for a in agents if not measured[a.id].ready), None)
    if failing is None:
        return 0
    days = LifecycleSettings.load().watch_days
    keys = [r.key for r in measured[failing.id].failing]
    for i in range(days):
        WatchCheck.objects.update_or_create(agent=failing, day=now.date() - timedelta(days=i), defaults={
            "stage": failing.lifecycle_stage, "passed": False, "failing": keys, "checked_at": now})
    WatchFlag.objects.create(agent=failing, stage=failing.lifecycle_stage,
                             suggested_stage=stages.previous_stage(failing.lifecycle_stage),
                             failing_since=now.date() - timedelta(days=days - 1), days=days, failing=keys,
                             opened_at=now)
    return 1


@transaction.atomic
def seed(stdout: TextIO) -> None:
    now = timezone.now()
    actor = User.objects.filter(username="olivia").first()
    if actor is None:
        stdout.write("lifecycle: no operations user to record the history with; skipped\n")
        return
    events = 0
    for agent in Agent.objects.filter(discovered=False, stage_events__isnull=True).order_by("name"):
        events += _history(agent, actor, now)
    overrides, flags = _overrides(actor), _flag(now)
    stdout.write(f"lifecycle: {events} stage events, {overrides} criteria overrides, {flags} watch flags\n")
