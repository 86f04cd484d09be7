"""Measuring the criteria: one batch of grouped reads for any number of agents (no N+1).

Sources, each read once per call:
- runs, SLO days, key figures: monitoring's day-tier rollup cells (never raw runs);
- handoff and reopen rates: handoffs tickets created in the window, grouped per agent and day;
- open alerts: monitoring alert events not yet resolved;
- ROI and payback: roi's own calculation (``roi.queries.daily_activity`` + the assumptions ledger),
  the same figures as the ROI report for that window;
- the experiment: the latest completed evals experiment of the active prompt (``lifecycle.experiments``).
Days are UTC days; "today" is the day of ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from agentops.models import Agent
from handoffs.models import Ticket
from monitoring.models import AlertEvent, RollupCell, Tier
from monitoring.rollups.queries import Summary

from . import criteria as c
from . import experiments
from .models import WATCH_ALERT_SOURCE, StageCriteria


def utc_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def criteria_for(agents: Iterable[Agent], stage_of: dict[int, str]) -> dict[int, c.Criteria]:
    """Resolved criteria of the stage ``stage_of[agent.id]`` for each agent: one query for all rows."""
    agents = list(agents)
    stages = set(stage_of.values())
    rows = StageCriteria.objects.filter(stage__in=stages).filter(
        Q(agent__isnull=True, department__isnull=True)
        | Q(department_id__in={a.department_id for a in agents if a.department_id})
        | Q(agent_id__in=[a.id for a in agents])
    )
    by_scope: dict[tuple, dict] = {}
    for row in rows:
        scope = ("agent", row.agent_id) if row.agent_id else ("department", row.department_id) if row.department_id \
            else ("stage", None)
        by_scope[(row.stage, *scope)] = row.values()
    resolved = {}
    for agent in agents:
        stage = stage_of[agent.id]
        layers = [by_scope.get((stage, "stage", None), {}),
                  by_scope.get((stage, "department", agent.department_id), {}) if agent.department_id else {},
                  by_scope.get((stage, "agent", agent.id), {})]
        resolved[agent.id] = c.resolve(stage, *layers)
    return resolved


def day_check(agent: Agent, day: date, summary: Summary) -> c.DayCheck:
    """Did the agent meet each SLO target it has on this day? A day without runs is not met."""
    if not summary.runs:
        return c.DayCheck(day, 0, False, ["no runs"])
    breaches = []
    if agent.slo_p95_latency_ms is not None and summary.p95 is not None and summary.p95 > agent.slo_p95_latency_ms:
        breaches.append("p95")
    if agent.slo_min_success_rate is not None and summary.success_rate < float(agent.slo_min_success_rate):
        breaches.append("success")
    if agent.slo_min_quality is not None and summary.quality is not None \
            and summary.quality < float(agent.slo_min_quality):
        breaches.append("quality")
    if agent.slo_max_cost_per_run is not None and summary.cost_per_run > agent.slo_max_cost_per_run:
        breaches.append("cost per run")
    return c.DayCheck(day, summary.runs, not breaches, breaches)


def has_slo_targets(agent: Agent) -> bool:
    return any(v is not None for v in (agent.slo_p95_latency_ms, agent.slo_min_success_rate, agent.slo_min_quality,
                                       agent.slo_max_cost_per_run))


@dataclass
class Figures:
    """Key figures over the criteria window, summed from the same day cells."""

    window_days: int = 0
    summary: Summary = field(default_factory=Summary)


@dataclass
class Measured:
    criteria: c.Criteria
    evidence: c.Evidence
    results: list[c.Result]
    figures: Figures

    @property
    def failing(self) -> list[c.Result]:
        return c.failing(self.results)

    @property
    def ready(self) -> bool:
        return not self.failing


def _day_cells(agent_ids: list[int], first: date, today: date) -> dict[int, dict[date, Summary]]:
    cells = (RollupCell.objects.filter(tier=Tier.DAY, agent_id__in=agent_ids, bucket__gte=utc_day_start(first),
                                       bucket__lt=utc_day_start(today + timedelta(days=1)))
             .values_list("agent_id", "bucket", "runs", "errors", "escalations", "quality_sum", "quality_count",
                          "cost", "input_tokens", "output_tokens", "latency"))
    out: dict[int, dict[date, Summary]] = defaultdict(dict)
    for agent_id, bucket, *values in cells:
        out[agent_id][bucket.astimezone(UTC).date()] = Summary(*values)
    return out


def _tickets(agent_ids: list[int], first: date) -> dict[int, dict[date, tuple[int, int]]]:
    rows = (Ticket.objects.filter(agent_id__in=agent_ids, created_at__gte=utc_day_start(first))
            .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("agent_id", "day")
            .annotate(n=Count("id"), reopened=Count("id", filter=Q(reopen_count__gt=0))).order_by())
    out: dict[int, dict[date, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        out[row["agent_id"]][row["day"]] = (row["n"], row["reopened"])
    return out


def _open_alerts(agent_ids: list[int]) -> dict[int, int]:
    # The watch's own alert is the consequence of failing criteria, not evidence against them.
    return dict(AlertEvent.objects.filter(agent_id__in=agent_ids, resolved_at__isnull=True)
                .exclude(rule__source=WATCH_ALERT_SOURCE)
                .values("agent_id").annotate(n=Count("id")).values_list("agent_id", "n").order_by())


def _roi(agent_ids: list[int], windows: set[int], today: date) -> tuple[dict[tuple[int, int], tuple], str]:
    """(agent id, window) -> (roi %, payback months) from roi's calculation, and a note if it could not run."""
    from roi.calculations import MissingExchangeRate, compute_report, custom_period
    from roi.queries import agent_directory, daily_activity, load_ledger

    if not windows:
        return {}, ""
    first = today - timedelta(days=max(windows) - 1)
    activity = daily_activity(first, today + timedelta(days=1))
    ledger = load_ledger()
    directory, departments = agent_directory()
    out: dict[tuple[int, int], tuple] = {}
    wanted = set(agent_ids)
    for window in windows:
        period = custom_period(today - timedelta(days=window - 1), today)
        try:
            report = compute_report(period, "agent", activity, directory, departments, ledger)
        except MissingExchangeRate as exc:
            return {}, str(exc)
        for row in report.rows:
            kind, ident = row.key
            if kind == "agent" and ident in wanted:
                out[(ident, window)] = (row.roi_percent, row.payback_months)
    return out, ""


def measure(agents: Iterable[Agent], stage_of: dict[int, str], now: datetime | None = None,
            with_links: bool = True) -> dict[int, Measured]:
    """Criteria of ``stage_of[agent.id]`` for each agent, measured and evaluated.

    ``agents`` should have ``department`` and ``owner`` loaded. A fixed number of queries whatever the
    number of agents (criteria rows, day cells, tickets, alerts, ROI inputs, experiments).
    """
    agents = [a for a in agents if a.id in stage_of]
    if not agents:
        return {}
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    resolved = criteria_for(agents, stage_of)
    ids = [a.id for a in agents]
    longest = max(max(cr.window_days, cr.slo_days_window + 1) for cr in resolved.values())
    first = today - timedelta(days=longest)
    cells = _day_cells(ids, first, today)
    tickets = _tickets(ids, first)
    alerts = _open_alerts(ids)
    roi_windows = {cr.window_days for cr in resolved.values() if cr.check_roi}
    roi, roi_note = _roi([a.id for a in agents if resolved[a.id].check_roi], roi_windows, today)
    exp = experiments.evidence_for([a for a in agents if resolved[a.id].check_experiment])

    out = {}
    for agent in agents:
        cr = resolved[agent.id]
        days = cells.get(agent.id, {})
        window = [today - timedelta(days=i) for i in range(cr.window_days)]
        figures = Figures(cr.window_days)
        for day in window:
            if day in days:
                figures.summary.add(days[day])
        slo_days = [day_check(agent, d, days.get(d, Summary()))
                    for d in (today - timedelta(days=i) for i in range(cr.slo_days_window, 0, -1))]
        agent_tickets = [tickets.get(agent.id, {}).get(d, (0, 0)) for d in window]
        roi_pct, payback = roi.get((agent.id, cr.window_days), (None, None))
        owner = agent.owner.get_full_name() or agent.owner.get_username() if agent.owner_id else ""
        evidence = c.Evidence(
            runs=figures.summary.runs, slo_days=slo_days, slo_targets_set=has_slo_targets(agent),
            tickets=sum(t[0] for t in agent_tickets), reopened=sum(t[1] for t in agent_tickets),
            open_alerts=alerts.get(agent.id, 0), experiment=exp.get(agent.id),
            roi_percent=roi_pct, payback_months=payback, roi_note=roi_note, owner=owner,
        )
        results = c.evaluate(cr, evidence)
        if with_links:
            links = evidence_links(agent, cr, today)
            for result in results:
                result.evidence_url = result.evidence_url or links.get(result.key, "")
        out[agent.id] = Measured(cr, evidence, results, figures)
    return out


def evidence_links(agent: Agent, cr: c.Criteria, today: date) -> dict[str, str]:
    """Where each criterion's figure can be checked: the dashboard range, the handoff metrics, the
    alerts page, the ROI report for the same days, the registry for the owner."""
    window_from = utc_day_start(today - timedelta(days=cr.window_days - 1))
    slo_from = utc_day_start(today - timedelta(days=cr.slo_days_window))
    dashboard = reverse("monitoring:agent_dashboard", args=[agent.slug])

    def dash(start: datetime, end: datetime) -> str:
        return f"{dashboard}?{urlencode({'range': 'custom', 'from': start.isoformat(), 'to': end.isoformat()})}"

    roi_query = {"period": "custom", "date_from": (today - timedelta(days=cr.window_days - 1)).isoformat(),
                 "date_to": today.isoformat(), "grouping": "agent"}
    # The handoff metrics page offers 7, 30 and 90 days: the shortest that covers the window.
    metric_days = min((d for d in (7, 30, 90) if d >= cr.window_days), default=90)
    handoffs = f"{reverse('handoffs:metrics')}?{urlencode({'days': metric_days})}"
    return {
        c.RUNS: dash(window_from, utc_day_start(today + timedelta(days=1))),
        c.SLO: dash(slo_from, utc_day_start(today)),
        c.HANDOFF: handoffs,
        c.REOPEN: handoffs,
        c.ALERTS: reverse("monitoring:alerts"),
        c.ROI: f"{reverse('roi:report')}?{urlencode(roi_query)}",
        c.OWNER: reverse("registry:agent_edit", args=[agent.slug]),
    }


def measure_one(agent: Agent, stage: str, now: datetime | None = None) -> Measured:
    return measure([agent], {agent.id: stage}, now)[agent.id]


def snapshot(measured: Measured, stage: str) -> dict:
    """The JSON kept on a stage event: the gate's resolved criteria and each result at that moment."""
    return {"stage": stage, "criteria": measured.criteria.as_json(),
            "results": [r.as_json() for r in measured.results], "all_met": measured.ready}

