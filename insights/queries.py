"""Root causes: failure groups over a range, trends, regressions, drill-down, reviewers' causes."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from django.db import connection
from django.db.models import Count, F
from django.urls import reverse

from agentops.models import Agent, PromptVersion
from agentops.scoping import allowed_agent_ids, scope_agents, scope_rows
from handoffs.models import Ticket
from insights.models import FailureGroup, PromptDraftCase
from monitoring.dashboards.failure_origin import FailureOrigin, failure_origin
from monitoring.ingest.fingerprint import FailureSignature, failure_signature
from monitoring.models import Run
from monitoring.rollups import insight_cells as recorded_signatures
from monitoring.rollups import insight_queries as insight_cells

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


def signatures_for(fingerprints: list[str], window: tuple[datetime, datetime] | None = None,
                   ) -> dict[str, FailureSignature | None]:
    """Each fingerprint's signature as ingest recorded it (one query, whatever the runs). A group
    without a record (runs stored before signatures were recorded) is described from its latest run
    in ``window``: one probe of run_fingerprint_idx with a LIMIT, and that run's steps."""
    if not fingerprints:
        return {}
    found = insight_cells.signatures(sorted(set(fingerprints)))
    result = {fp: FailureSignature(*found[fp]) if fp in found else None for fp in fingerprints}
    missing = sorted({fp for fp, signature in result.items() if signature is None and fp})
    if missing and window is not None:
        with connection.cursor() as cursor:
            cursor.execute(_LATEST_IN_RANGE_SQL, [window[0], window[1], missing])
            latest = {fp: run_id for fp, run_id in cursor.fetchall() if run_id is not None}
        runs = {r.id: r for r in Run.objects.filter(id__in=latest.values()).prefetch_related("steps")}
        for fp, run_id in latest.items():
            if run_id in runs:
                result[fp] = failure_signature(runs[run_id], runs[run_id].steps.all())
        # Kept, as ingest keeps them, so the next page reads the record instead of the runs.
        recorded_signatures.record_signatures(SimpleNamespace(fingerprint=fp, **dataclasses.asdict(signature))
                                        for fp, signature in result.items() if fp in latest and signature is not None)
    return result


_LATEST_IN_RANGE_SQL = """
    SELECT fp, (SELECT id FROM monitoring_run WHERE fingerprint = fp AND fingerprint <> ''
                AND started_at >= %s AND started_at < %s ORDER BY started_at DESC, id DESC LIMIT 1)
    FROM unnest(%s::varchar[]) AS fp
"""


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

    Read from the failure cells (``monitoring.rollups.insight_queries``): the range in whole hour or
    day cells, a group's runs attributed to its failing invocation's agent and that agent's prompt
    version. A constant number of queries whatever the number of groups or runs; ``fingerprint``
    narrows to one group (drill-down), ``agent`` to the groups where that agent failed; ``user``
    limited to departments: failures of their agents only (agentops.scoping).
    """
    agent_id = agent.pk if agent is not None else None
    allowed = allowed_agent_ids(user)
    allowed = sorted(allowed) if allowed is not None else None
    counts = insight_cells.group_counts(start, end, agent_id=agent_id, agent_ids=allowed,
                                        fingerprints=[fingerprint] if fingerprint else None, limit=MAX_GROUPS)
    if not counts:
        return []
    fps = [c.fingerprint for c in counts]
    seen = insight_cells.last_seen(fps, start, end)
    rows = [FailureGroupRow(c.fingerprint, c.runs, c.errors, c.escalations, seen.get(c.fingerprint, start))
            for c in counts]
    cell_start = insight_cells.cell_start(start, end)
    previous_start = cell_start - (end - start)
    previous = {c.fingerprint: c.runs for c in insight_cells.group_counts(
        previous_start, cell_start, agent_id=agent_id, agent_ids=allowed, fingerprints=fps)} if previous_start < cell_start else {}
    firsts = insight_cells.first_seen(fps)
    signatures = signatures_for(fps, (start, end))
    breakdown = insight_cells.group_breakdown(start, end, fps, agent_id, agent_ids=allowed)
    agent_ids = {a for _fp, a, *_rest in breakdown} | {s.agent_id for s in signatures.values() if s is not None}
    agents = scope_agents(Agent.objects.all(), user).in_bulk(agent_ids)
    versions = PromptVersion.objects.in_bulk({p for _fp, _a, p, *_rest in breakdown if p})
    per_fp = _per_group(breakdown, agents, versions)
    regressions = _regressions(per_fp, agents, versions, previous_start, end)
    annotations = {g.fingerprint: g for g in FailureGroup.objects.filter(fingerprint__in=fps)
                   .select_related("owner", "root_cause")}
    for row in rows:
        row.previous = previous.get(row.fingerprint, 0)
        row.first_seen = firsts.get(row.fingerprint)
        row.trend = classify_trend(row.runs, row.previous, row.first_seen, cell_start)
        row.description = describe_signature(signatures.get(row.fingerprint), agents)
        group = per_fp.get(row.fingerprint, {"agents": {}, "versions": {}})
        row.agents = sorted(((agents[a], n) for a, n in group["agents"].items() if a in agents),
                            key=lambda pair: -pair[1])
        row.versions = sorted(group["versions"].items(), key=lambda pair: -pair[1])
        row.regression = regressions.get(row.fingerprint)
        row.annotation = annotations.get(row.fingerprint)
    return rows


def agent_version_label(agent: Agent | None, prompt_id: int | None, raw: str,
                        versions: dict[int, PromptVersion]) -> str:
    """Whose version: "Refund agent v3" (a prompt version belongs to the agent whose spans carry it)."""
    label = prompt_label(prompt_id, raw, versions)
    return f"{agent.name} {label}" if agent is not None else label


def _per_group(breakdown: list[tuple], agents: dict[int, Agent], versions: dict[int, PromptVersion]) -> dict:
    """Per fingerprint: runs by failing agent, by that agent's version label, and the raw rows."""
    per: dict[str, dict] = defaultdict(lambda: {"agents": defaultdict(int), "versions": defaultdict(int), "rows": []})
    for fp, agent_id, prompt_id, raw, model, n in breakdown:
        group = per[fp]
        group["agents"][agent_id] += n
        group["versions"][agent_version_label(agents.get(agent_id), prompt_id, raw, versions)] += n
        group["rows"].append((agent_id, prompt_id, raw, model, n))
    return per


def _regressions(per_fp: dict, agents: dict[int, Agent], versions: dict[int, PromptVersion], start: datetime,
                 end: datetime) -> dict[str, Regression]:
    """"Regressed in" per group, on its main failing agent's own versions, over [start, end) (one
    query over that agent's version cells).

    Prompt versions are checked first (the usual cause); the model is checked when the prompt did not
    change.
    """
    main_agent = {fp: max(g["agents"].items(), key=lambda p: (p[1], -p[0]))[0] for fp, g in per_fp.items()
                  if g["agents"]}
    if not main_agent:
        return {}
    totals = insight_cells.version_totals(start, end, sorted(set(main_agent.values())), with_latency=False)
    versions = {**versions, **PromptVersion.objects.in_bulk(
        {t.prompt_id for t in totals if t.prompt_id and t.prompt_id not in versions})}
    result: dict[str, Regression] = {}
    for fp, agent_id in main_agent.items():
        agent = agents.get(agent_id)
        mine = [t for t in totals if t.agent_id == agent_id]
        hits = [r for r in per_fp[fp]["rows"] if r[0] == agent_id]
        for dimension in ("prompt", "model"):
            found = regressed_in(_series(dimension, agent, mine, hits, versions))
            if found is not None:
                result[fp] = found
                break
    return result


def _series(dimension: str, agent: Agent | None, totals: list, hits: list[tuple],
            versions: dict[int, PromptVersion]) -> list[VersionCount]:
    total: dict[str, int] = defaultdict(int)
    first: dict[str, datetime] = {}
    hit: dict[str, int] = defaultdict(int)
    if dimension == "prompt":
        for t in totals:
            key = agent_version_label(agent, t.prompt_id, t.prompt_version, versions)
            total[key] += t.runs
            first[key] = min(first.get(key, t.first_seen), t.first_seen)
        for _agent, prompt_id, raw, _model, n in hits:
            hit[agent_version_label(agent, prompt_id, raw, versions)] += n
    else:
        def label(model: str) -> str:
            return f"model {model}" if model else "unknown model"
        for t in totals:
            for model, (n, seen) in t.models.items():
                total[label(model)] += n
                first[label(model)] = min(first.get(label(model), seen), seen)
        for _agent, _prompt, _raw, model, n in hits:
            hit[label(model)] += n
    return sorted((VersionCount(k, first[k], total[k], hit[k]) for k in total), key=lambda v: (v.first_seen, v.label))


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


def group_runs(fingerprint: str, start: datetime, end: datetime, user=None):
    """A group's latest runs in the range (of ``user``'s departments when limited): at most
    GROUP_RUNS_SHOWN, along run_fingerprint_idx."""
    return (scope_rows(Run.objects.filter(fingerprint=fingerprint, started_at__gte=start, started_at__lt=end), user)
            .order_by("-started_at", "-id")[:GROUP_RUNS_SHOWN])


def failure_group_detail(fingerprint: str, start: datetime, end: datetime, user=None) -> FailureGroupDetail | None:
    """A group's latest runs in the range, daily counts, tickets and where it failed first.

    Counts come from the failure cells (kept after retention drops the runs); the example runs are
    read from the runs table with a LIMIT along run_fingerprint_idx, inside the range."""
    daily = insight_cells.group_daily(fingerprint, start, end)
    signature = signatures_for([fingerprint], (start, end)).get(fingerprint)
    runs = list(group_runs(fingerprint, start, end, user).select_related("agent", "prompt"))
    if not daily and signature is None and not runs and not insight_cells.group_agents(fingerprint):
        return None
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
        total_runs=row.runs if row else 0,
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
