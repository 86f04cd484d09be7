"""Root causes: failure groups over a range, trends, regressions, drill-down, reviewers' causes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, Max, Min, Q
from django.urls import reverse

from agentops.models import Agent, PromptVersion
from agentops.scoping import scope_agents, scope_rows
from handoffs.models import Ticket
from insights.models import FailureGroup, PromptDraftCase
from monitoring.dashboards.failure_origin import FailureOrigin, failure_origin
from monitoring.ingest.fingerprint import FailureSignature, failure_signature
from monitoring.models import Run, RunStatus

MAX_GROUPS = 50


GROUP_RUNS_SHOWN = 50


NEW, RISING, FALLING, STEADY = "new", "rising", "falling", "steady"


TREND_FACTOR = 1.5


TREND_MIN_CHANGE = 3


def classify_trend(current: int, previous: int, first_seen: datetime | None, start: datetime) -> str:
    """new: first ever seen inside the range; rising/falling: 1.5x and at least 3 runs of change."""
    if first_seen is not None and first_seen >= start:
        return NEW
    if current >= previous * TREND_FACTOR and current - previous >= TREND_MIN_CHANGE:
        return RISING
    if previous >= current * TREND_FACTOR and previous - current >= TREND_MIN_CHANGE:
        return FALLING
    return STEADY


@dataclass(frozen=True)
class VersionCount:
    label: str
    first_seen: datetime
    total: int  # all runs of the agent on this version (or model)
    hits: int  # runs in the failure group

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


@dataclass(frozen=True)
class Regression:
    label: str
    how: str  # "appeared" or "grew"
    rate_before: float
    rate_after: float


MIN_RUNS_BEFORE = 5


GROWTH_FACTOR = 2.0


MIN_HITS_TO_GROW = 3


def regressed_in(versions: list[VersionCount]) -> Regression | None:
    """The version (or model) since which a failure appeared or grew most, comparing consecutive ones.

    ``versions`` are one agent's versions ordered by first use. "appeared": the previous version had
    enough runs and none failed this way; "grew": the rate at least doubled with a few hits.
    """
    best: Regression | None = None
    for before, after in zip(versions, versions[1:], strict=False):
        if after.hits == 0:
            continue
        if before.hits == 0 and before.total >= MIN_RUNS_BEFORE:
            how = "appeared"
        elif before.hits and after.rate >= before.rate * GROWTH_FACTOR and after.hits >= MIN_HITS_TO_GROW:
            how = "grew"
        else:
            continue
        candidate = Regression(after.label, how, before.rate, after.rate)
        if best is None or candidate.rate_after - candidate.rate_before > best.rate_after - best.rate_before:
            best = candidate
    return best


def describe_signature(signature: FailureSignature | None, agents: dict[int, Agent]) -> str:
    if signature is None:
        return "unknown failure"
    agent = agents.get(signature.agent_id)
    where = signature.tool_name or signature.step_name or signature.kind
    what = signature.error_type or "error"
    text = f"{agent.name if agent else 'agent'} · {where} · {what}"
    return f"{text}: {signature.message}" if signature.message else text


def prompt_label(prompt_id: int | None, raw: str, versions: dict[int, PromptVersion]) -> str:
    if prompt_id and prompt_id in versions:
        return f"v{versions[prompt_id].version}"
    return f"{raw} (unregistered)" if raw else "no version"


def prompt_key(prompt_id: int | None, raw: str) -> str:
    """A stable key for a prompt version seen in telemetry: the registry id, else the raw label."""
    return f"pv{prompt_id}" if prompt_id else f"raw:{raw}"


def signatures_for(fingerprints: list[str], ends: dict[str, tuple[datetime, int]] | None = None,
                   ) -> dict[str, FailureSignature | None]:
    """Each fingerprint's signature, recomputed from its latest run (two queries; one when the
    caller has read the groups' ``ends`` already)."""
    if not fingerprints:
        return {}
    ends = _group_ends(fingerprints) if ends is None else ends
    latest = {fp: ends[fp][1] for fp in fingerprints if fp in ends}
    runs = {r.id: r for r in Run.objects.filter(id__in=latest.values()).prefetch_related("steps")}
    return {fp: failure_signature(runs[run_id], runs[run_id].steps.all()) if run_id in runs else None
            for fp, run_id in latest.items()}


GROUP_ENDS_SQL = """
    SELECT fp,
           (SELECT started_at FROM monitoring_run
            WHERE fingerprint = fp AND fingerprint <> '' ORDER BY started_at, id LIMIT 1),
           (SELECT id FROM monitoring_run
            WHERE fingerprint = fp AND fingerprint <> '' ORDER BY started_at DESC, id DESC LIMIT 1)
    FROM unnest(%s::varchar[]) AS fp
"""


def _group_ends(fingerprints: list[str]) -> dict[str, tuple[datetime, int]]:
    """fingerprint -> (when its first run started, id of its latest run), for groups with runs.

    Two probes of run_fingerprint_idx per group, however many runs the group has (an aggregate over
    the group's runs would read them all; see docs/performance.md)."""
    fps = sorted({fp for fp in fingerprints if fp})
    if not fps:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(GROUP_ENDS_SQL, [fps])
        return {fp: (first, latest) for fp, first, latest in cursor.fetchall() if latest is not None}


def ticket_url(ticket_id: int) -> str:
    return reverse("handoffs:ticket", args=[ticket_id])


def tickets_for_runs(run_ids: list[int]) -> list[dict]:
    """Handoff tickets of these runs (one query), newest first."""
    if not run_ids:
        return []
    rows = list(
        Ticket.objects.filter(run_id__in=run_ids).order_by("-created_at")
        .values("id", "run_id", "status", "outcome", "root_cause__name", "corrected_answer", "created_at",
                "resolved_at")[:GROUP_RUNS_SHOWN]
    )
    for row in rows:
        row["url"] = ticket_url(row["id"])
    return rows


@dataclass
class FailureGroupRow:
    fingerprint: str
    runs: int
    errors: int
    escalations: int
    last_seen: datetime
    previous: int = 0
    first_seen: datetime | None = None
    trend: str = STEADY
    description: str = ""
    agents: list[tuple[Agent, int]] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    regression: Regression | None = None
    annotation: FailureGroup | None = None


def failure_groups(start: datetime, end: datetime, agent: Agent | None = None,
                   fingerprint: str | None = None, user=None) -> list[FailureGroupRow]:
    """Failure groups with runs in [start, end), by count, with trend against the previous period.

    Nine queries whatever the number of groups; ``fingerprint`` narrows to one group (drill-down);
    ``user`` limited to departments: their agents' runs only (agentops.scoping).
    """
    in_range = scope_rows(Run.objects.filter(started_at__gte=start, started_at__lt=end), user).exclude(fingerprint="")
    if fingerprint is not None:
        in_range = in_range.filter(fingerprint=fingerprint)
    if agent is not None:
        in_range = in_range.filter(agent=agent)
    rows = [
        FailureGroupRow(**row) for row in in_range.values("fingerprint").annotate(
            runs=Count("id"), errors=Count("id", filter=Q(status=RunStatus.ERROR)),
            escalations=Count("id", filter=Q(has_escalation=True)), last_seen=Max("started_at"),
        ).order_by("-runs", "fingerprint")[:MAX_GROUPS]
    ]
    if not rows:
        return []
    fps = [r.fingerprint for r in rows]
    previous_start = start - (end - start)
    previous_runs = scope_rows(Run.objects.filter(fingerprint__in=fps, started_at__gte=previous_start,
                                                  started_at__lt=start), user)
    if agent is not None:
        previous_runs = previous_runs.filter(agent=agent)
    previous = dict(previous_runs.values("fingerprint").annotate(n=Count("id")).values_list("fingerprint", "n"))
    ends = _group_ends(fps)  # first seen, and the latest run a group's description comes from
    signatures = signatures_for(fps, ends)
    breakdown = _breakdown(in_range.filter(fingerprint__in=fps))
    regressions = _regressions(fps, breakdown, previous_start, end)
    agent_ids = {a for per_fp in breakdown.values() for a in per_fp["agents"]}
    agent_ids |= {s.agent_id for s in signatures.values() if s is not None}
    agents = scope_agents(Agent.objects.all(), user).in_bulk(agent_ids)
    annotations = {g.fingerprint: g for g in FailureGroup.objects.filter(fingerprint__in=fps)
                   .select_related("owner", "root_cause")}
    for row in rows:
        row.previous = previous.get(row.fingerprint, 0)
        row.first_seen = ends[row.fingerprint][0] if row.fingerprint in ends else None
        row.trend = classify_trend(row.runs, row.previous, row.first_seen, start)
        row.description = describe_signature(signatures.get(row.fingerprint), agents)
        per_fp = breakdown.get(row.fingerprint, {"agents": {}, "versions": {}})
        row.agents = sorted(((agents[a], n) for a, n in per_fp["agents"].items() if a in agents),
                            key=lambda pair: -pair[1])
        row.versions = sorted(per_fp["versions"].items(), key=lambda pair: -pair[1])
        row.regression = regressions.get(row.fingerprint)
        row.annotation = annotations.get(row.fingerprint)
    return rows


def _breakdown(runs) -> dict[str, dict]:
    """Per fingerprint: run counts by agent and by prompt version label (one query + one lookup)."""
    per: dict[str, dict] = defaultdict(lambda: {"agents": defaultdict(int), "versions": defaultdict(int)})
    rows = list(runs.values("fingerprint", "agent_id", "prompt_id", "prompt_version").annotate(n=Count("id")))
    versions = PromptVersion.objects.in_bulk({r["prompt_id"] for r in rows if r["prompt_id"]})
    for r in rows:
        per[r["fingerprint"]]["agents"][r["agent_id"]] += r["n"]
        label = prompt_label(r["prompt_id"], r["prompt_version"], versions)
        per[r["fingerprint"]]["versions"][label] += r["n"]
    return per


def _regressions(fps: list[str], breakdown: dict, start: datetime, end: datetime) -> dict[str, Regression]:
    """"Regressed in" per group, on its main agent, over [start, end) (two aggregate queries).

    Prompt versions are checked first (the usual cause); the model is checked when the prompt did not
    change.
    """
    main_agent = {fp: max(b["agents"].items(), key=lambda p: p[1])[0] for fp, b in breakdown.items() if b["agents"]}
    if not main_agent:
        return {}
    window = Run.objects.filter(agent_id__in=set(main_agent.values()), started_at__gte=start, started_at__lt=end)
    totals = list(window.values("agent_id", "prompt_id", "prompt_version", "model")
                  .annotate(n=Count("id"), first=Min("started_at")))
    hits = list(window.filter(fingerprint__in=fps)
                .values("fingerprint", "agent_id", "prompt_id", "prompt_version", "model").annotate(n=Count("id")))
    versions = PromptVersion.objects.in_bulk({r["prompt_id"] for r in totals if r["prompt_id"]})
    result: dict[str, Regression] = {}
    for fp, agent_id in main_agent.items():
        for dimension in ("prompt", "model"):
            series = _series(dimension, agent_id, fp, totals, hits, versions)
            found = regressed_in(series)
            if found is not None:
                result[fp] = found
                break
    return result


def _series(dimension: str, agent_id: int, fp: str, totals: list[dict], hits: list[dict],
            versions: dict[int, PromptVersion]) -> list[VersionCount]:
    def label(r: dict) -> str:
        if dimension == "prompt":
            return prompt_label(r["prompt_id"], r["prompt_version"], versions)
        return f"model {r['model']}" if r["model"] else "unknown model"

    total: dict[str, int] = defaultdict(int)
    first: dict[str, datetime] = {}
    for r in totals:
        if r["agent_id"] == agent_id:
            key = label(r)
            total[key] += r["n"]
            first[key] = min(first.get(key, r["first"]), r["first"])
    hit: dict[str, int] = defaultdict(int)
    for r in hits:
        if r["agent_id"] == agent_id and r["fingerprint"] == fp:
            hit[label(r)] += r["n"]
    return sorted((VersionCount(k, first[k], total[k], hit[k]) for k in total), key=lambda v: v.first_seen)


def reviewer_root_causes(start: datetime, end: datetime, user=None) -> list[dict]:
    """Pareto rows of root causes reviewers assigned on tickets resolved in [start, end)."""
    rows = list(
        scope_rows(Ticket.objects.filter(resolved_at__gte=start, resolved_at__lt=end, root_cause__isnull=False), user)
        .values(name=F("root_cause__name")).annotate(n=Count("id")).order_by("-n", "name")
    )
    total = sum(r["n"] for r in rows)
    running = 0
    for r in rows:
        running += r["n"]
        r["cumulative_pct"] = round(100 * running / total, 1)
    return rows


@dataclass
class FailureGroupDetail:
    fingerprint: str
    description: str
    signature: FailureSignature | None
    annotation: FailureGroup | None
    runs: list[Run]
    total_runs: int
    daily: list[tuple[datetime, int]]
    tickets: list[dict]
    origin: FailureOrigin | None
    row: FailureGroupRow | None


def failure_group_detail(fingerprint: str, start: datetime, end: datetime, user=None) -> FailureGroupDetail | None:
    """A group's runs in the range (latest first), daily counts, tickets and where it failed first;
    None when no run (of ``user``'s departments, when limited) has the fingerprint."""
    from django.db.models.functions import TruncDay

    runs_qs = scope_rows(Run.objects.filter(fingerprint=fingerprint, started_at__gte=start, started_at__lt=end), user)
    runs = list(runs_qs.select_related("agent", "prompt").order_by("-started_at", "-id")[:GROUP_RUNS_SHOWN])
    if not runs and not scope_rows(Run.objects.filter(fingerprint=fingerprint), user).exists():
        return None
    daily = list(runs_qs.annotate(day=TruncDay("started_at")).values("day").annotate(n=Count("id"))
                 .order_by("day").values_list("day", "n"))
    signature = signatures_for([fingerprint]).get(fingerprint)
    rows = failure_groups(start, end, fingerprint=fingerprint, user=user)
    row = rows[0] if rows else None
    agents = scope_agents(Agent.objects.all(), user).in_bulk([signature.agent_id] if signature and signature.agent_id else [])
    return FailureGroupDetail(
        fingerprint=fingerprint,
        description=describe_signature(signature, agents),
        signature=signature,
        annotation=FailureGroup.objects.filter(fingerprint=fingerprint)
                   .select_related("owner", "root_cause").first(),
        runs=runs,
        total_runs=sum(n for _day, n in daily),
        daily=daily,
        tickets=tickets_for_runs([r.id for r in runs]),
        origin=failure_origin(runs[0].id) if runs else None,
        row=row,
    )


def cases_for_prompt_version(prompt_version_id: int) -> list[dict]:
    """The runs and tickets that motivated a prompt version draft (two queries at most).

    Each row: ``run`` (Run or None, with its agent), ``ticket_id``, ``ticket_url``, ``fingerprint``,
    ``group_url``, ``note``. Rendered by templates/insights/_prompt_cases.html.
    """
    cases = list(PromptDraftCase.objects.filter(prompt_version_id=prompt_version_id).select_related("run__agent"))
    return [
        {
            "run": c.run,
            "ticket_id": c.ticket_id,
            "ticket_url": ticket_url(c.ticket_id) if c.ticket_id else None,
            "fingerprint": c.fingerprint,
            "group_url": reverse("insights:failure_group", args=[c.fingerprint]) if c.fingerprint else None,
            "note": c.note,
        }
        for c in cases
    ]
