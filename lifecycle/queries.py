"""Read-only selectors for the lifecycle pages: board, agent readiness and history (the portfolio is in
portfolio.py).

Every selector reads a fixed number of queries whatever the number of agents (asserted in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from agentops.models import Agent, Department
from agentops.scoping import department_ids, scope_agents, scope_q, scope_rows

from . import stages
from .evidence import Measured, measure
from .models import LifecycleSettings, PendingPromotion, StageCriteria, StageEvent, WatchFlag


def _latest_events(agent_ids: list[int]) -> dict[int, StageEvent]:
    events = (StageEvent.objects.filter(agent_id__in=agent_ids).order_by("agent_id", "-occurred_at", "-id")
              .distinct("agent_id").only("agent_id", "occurred_at", "to_stage"))
    return {e.agent_id: e for e in events}


def _open_flags(agent_ids: list[int]) -> dict[int, WatchFlag]:
    return {f.agent_id: f for f in WatchFlag.objects.filter(agent_id__in=agent_ids, resolved_at__isnull=True)}


def _pending(agent_ids: list[int]) -> dict[int, PendingPromotion]:
    return {p.agent_id: p for p in PendingPromotion.objects.filter(
        agent_id__in=agent_ids, status=PendingPromotion.Status.PENDING).select_related("requested_by")}


@dataclass
class Card:
    agent: Agent
    target: str | None  # the stage a promotion leads to (None at the top)
    measured: Measured | None
    entered_at: datetime
    flag: WatchFlag | None
    pending: PendingPromotion | None
    now: datetime

    @property
    def days_in_stage(self) -> int:
        return max(0, (self.now - self.entered_at).days)

    @property
    def failing_count(self) -> int:
        return len(self.measured.failing) if self.measured else 0

    @property
    def ready(self) -> bool:
        return self.measured is not None and self.measured.ready

    @property
    def readiness(self) -> str:
        """"flagged", "pending", "ready", "failing"; at the top "holding" or "slipping"; "retired"."""
        if self.flag:
            return "flagged"
        if self.pending:
            return "pending"
        if self.measured is None:
            return "retired"
        if self.target is None:
            return "holding" if self.ready else "slipping"
        return "ready" if self.ready else "failing"

    @property
    def target_label(self) -> str:
        return stages.label(self.target) if self.target else ""


def _targets(agents: list[Agent]) -> dict[int, str]:
    """Stage to measure per agent: the next rung; at the top, its own stage (does it still hold?).
    Retired agents are not measured on the board."""
    out = {}
    for agent in agents:
        if agent.lifecycle_stage != stages.RETIRED:
            out[agent.id] = stages.next_stage(agent.lifecycle_stage) or agent.lifecycle_stage
    return out


def cards(agents: list[Agent], now: datetime | None = None) -> list[Card]:
    now = now or timezone.now()
    ids = [a.id for a in agents]
    targets = _targets(agents)
    measured = measure(agents, targets, now)
    events, flags, pending = _latest_events(ids), _open_flags(ids), _pending(ids)
    out = []
    for agent in agents:
        event = events.get(agent.id)
        entered = event.occurred_at if event and event.to_stage == agent.lifecycle_stage else agent.created_at
        target = stages.next_stage(agent.lifecycle_stage) if agent.lifecycle_stage != stages.RETIRED else None
        out.append(Card(agent, target, measured.get(agent.id), entered, flags.get(agent.id),
                        pending.get(agent.id), now))
    return out


@dataclass
class Column:
    stage: str
    label: str
    cards: list[Card] = field(default_factory=list)


def board(department: Department | None = None, now: datetime | None = None, user=None) -> list[Column]:
    """Registered agents (of ``user``'s departments when limited) as cards in one column per stage (retired last)."""
    agents = scope_agents(Agent.objects.filter(discovered=False), user).select_related("department", "owner").order_by("name")
    if department is not None:
        agents = agents.filter(department=department)
    columns = {s: Column(s, stages.label(s)) for s in stages.COLUMNS}
    for card in cards(list(agents), now):
        columns[card.agent.lifecycle_stage].cards.append(card)
    return list(columns.values())


def agent_card(agent: Agent, now: datetime | None = None) -> Card:
    agent = Agent.objects.select_related("department", "owner").get(pk=agent.pk)
    return cards([agent], now)[0]


def history(agent: Agent, limit: int | None = None) -> list[StageEvent]:
    events = StageEvent.objects.filter(agent=agent).select_related("actor", "approved_by")
    return list(events[:limit] if limit else events)


def pending_list(user=None) -> list[PendingPromotion]:
    return list(scope_rows(PendingPromotion.objects.filter(status=PendingPromotion.Status.PENDING), user)
                .select_related("agent", "requested_by"))


def flagged_count(user=None) -> int:
    return scope_rows(WatchFlag.objects.filter(resolved_at__isnull=True), user).count()


def criteria_rows(user=None) -> tuple[dict[str, StageCriteria | None], list[StageCriteria]]:
    """The stage rows (None where the built-in defaults apply) and every override (a user limited to
    departments: only the overrides of their departments and agents)."""
    rows = StageCriteria.objects.select_related("department", "agent").order_by("stage", "id")
    if department_ids(user) is not None:
        rows = rows.filter(Q(agent__isnull=True, department__isnull=True) | scope_q(user)
                           | Q(agent__isnull=True) & scope_q(user, "department_id"))
    rows = list(rows)
    own = {s: None for s in stages.GATED}
    overrides = []
    for row in rows:
        if row.agent_id is None and row.department_id is None:
            own[row.stage] = row
        else:
            overrides.append(row)
    order = {s: i for i, s in enumerate(stages.GATED)}
    overrides.sort(key=lambda r: (order[r.stage], r.department_id is None, r.scope_label.lower()))
    return own, overrides


def settings_row() -> LifecycleSettings:
    return LifecycleSettings.load()
