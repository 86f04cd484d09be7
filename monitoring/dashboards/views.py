"""Live monitoring pages: overview, agent dashboard, run explorer, trace view."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from agentops.exports import csv_writer
from agentops.extensions import FAILURE_LINKS, TRACE_LINKS, links
from agentops.formatting import format_count
from agentops.models import Agent, Department, LifecycleStage, PromptRollout
from agentops.permissions import OPERATIONS, role_required
from agentops.preferences import SHOW_INACTIVE_AGENTS, remembered_flag
from agentops.scoping import allows_agent, department_ids, require_agent, scope_agents, scope_form, scope_rows
from monitoring import timerange
from monitoring.dashboards import access, charts, invocations, queries
from monitoring.dashboards.failure_origin import failure_origin
from monitoring.dashboards.forms import AgentRunFilterForm, RunFilterForm
from monitoring.ingest.models import Run
from monitoring.rollups import queries as rollup_queries

# Polling period of tiles and charts: with ingest taking ~1 s, new runs show within the 5 s target.
REFRESH_SECONDS = 3


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "error.html", {"status": 400, "title": "Bad request", "message": message}, status=400)


def _range_context(request: HttpRequest, time_range: timerange.TimeRange | None) -> dict:
    return {
        "range_choices": [(k, v[0]) for k, v in timerange.RANGE_CHOICES.items()],
        "time_range": time_range,
        "range_key": request.GET.get("range") or timerange.DEFAULT_RANGE,
        "query_string": request.GET.urlencode(),
        "refresh_seconds": REFRESH_SECONDS,
    }


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"“{name}” must be a number, not “{value}”.")
    return int(value)


@role_required(OPERATIONS)
def overview(request: HttpRequest) -> HttpResponse:
    context = _range_context(request, None)
    context.update({
        "departments": scope_agents(Department.objects.order_by("name"), request.user, "pk"), "stages": LifecycleStage.choices,
        "sorts": [(k, v[0]) for k, v in queries.SORTS.items()], "sort": request.GET.get("sort", "severity"),
        "stage": request.GET.get("stage", ""),
    })
    try:
        time_range = timerange.parse_range(request.GET)
        department_id = _int_param(request, "department")
    except ValueError as exc:
        context["range_error"] = str(exc)
        return render(request, "monitoring/overview.html", context, status=400)
    context["time_range"] = time_range
    context["department_id"] = department_id
    if not queries.has_telemetry():
        context.update(_onboarding_context(request))
        template = "monitoring/overview.html#tiles" if request.htmx else "monitoring/overview.html"
        return render(request, template, context)
    context["show_inactive"] = remembered_flag(request, "inactive", SHOW_INACTIVE_AGENTS)
    agents = scope_agents(queries.overview_agents(department_id, context["stage"] or None, context["show_inactive"]),
                          request.user)
    tiles, fleet = queries.overview_tiles(agents, time_range, context["sort"], queries.open_alert_counts(),
                                          scoped=department_ids(request.user) is not None)
    context.update({"tiles": tiles, "fleet": fleet,
                    "open_alerts": queries.open_alerts(department_id, user=request.user)})
    template = "monitoring/overview.html#tiles" if request.htmx else "monitoring/overview.html"
    return render(request, template, context)


def _onboarding_context(request: HttpRequest) -> dict:
    endpoint = request.build_absolute_uri("/v1/traces")
    return {"no_telemetry": True, "otlp_endpoint": endpoint,
            "otlp_base": endpoint.removesuffix("/v1/traces"), "registry_keys_url": reverse("registry:apikey_list")}


@role_required(OPERATIONS)
def agent_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("department"), slug=slug)
    require_agent(request.user, agent)
    context = _range_context(request, None) | {"agent": agent,
                                               "registry_url": reverse("registry:agent_detail", args=[slug])}
    try:
        time_range = timerange.parse_range(request.GET)
    except timerange.InvalidRange as exc:
        context["range_error"] = str(exc)
        return render(request, "monitoring/agent_dashboard.html", context, status=400)
    context["time_range"] = time_range
    context.update(_agent_charts(agent, time_range))
    if request.htmx:
        return render(request, "monitoring/agent_dashboard.html#charts", context)
    context.update({
        "callers": invocations.by_caller(agent, time_range),
        "failures": invocations.recent_invocations(agent, time_range, failed=True),
        "latest": invocations.recent_invocations(agent, time_range),
        "escalations": queries.recent_escalations(agent, time_range),
        "alert_events": queries.agent_alert_events(agent),
        "rollout": PromptRollout.objects.select_related("candidate", "started_by").filter(agent=agent).first(),
    })
    return render(request, "monitoring/agent_dashboard.html", context)


def _agent_charts(agent: Agent, time_range: timerange.TimeRange) -> dict:
    current, previous = rollup_queries.summaries(time_range, [agent.id])
    summary = current.get(agent.id, rollup_queries.Summary())
    tier, points = rollup_queries.agent_series(agent.id, time_range)
    changes = [(e.at, e.label) for e in queries.prompt_changes(agent, time_range)]
    floor = float(agent.slo_min_quality) if agent.slo_min_quality is not None else None
    max_cost = float(agent.slo_max_cost_per_run) if agent.slo_max_cost_per_run is not None else None
    tile = queries.Tile(agent, summary, previous.get(agent.id, rollup_queries.Summary()),
                        queries.slo_status(agent, summary), rollup_queries.burn_rate(agent, summary),
                        queries.failing_targets(agent, summary))
    return {
        "tile": tile,
        "tier_label": {"m": "per minute", "h": "per hour", "d": "per day"}[tier],
        "has_points": any(p.summary.runs for p in points),
        "figures": [
            (name, charts.over_range(figure, time_range.start, time_range.end).to_json()) for name, figure in (
                ("chart-volume", charts.volume_chart(points, changes)),
                ("chart-latency", charts.latency_chart(points, agent.slo_p95_latency_ms, changes)),
                ("chart-quality", charts.quality_chart(points, floor, changes)),
                ("chart-cost", charts.cost_chart(points, max_cost, changes)),
            )
        ],
    }


def _run_filters(request: HttpRequest) -> tuple[RunFilterForm, timerange.TimeRange]:
    """The bound filter form and range; raises ValueError with a message on bad input."""
    form = scope_form(RunFilterForm(request.GET), request.user)
    time_range = timerange.parse_range(request.GET)
    _require_valid(form)
    return form, time_range


def _require_valid(form) -> None:
    """Raises ValueError naming every field in error and why (shown above the results)."""
    if not form.is_valid():
        problems = "; ".join(f"{form.fields[name].label or name}: {' '.join(errs)}"
                             for name, errs in form.errors.items())
        raise ValueError(f"Some filters are not valid: {problems}")


def _list_page(request: HttpRequest, matching) -> dict:
    """A list page's context: the page of ``matching`` (rows newest first by ``(started_at, id)``)
    after the ``after`` cursor, the capped count, and the links keeping the filters. Raises
    ValueError for a cursor this site did not produce."""
    page, next_cursor = queries.runs_page(matching, request.GET.get("after"))
    total, more = queries.count_runs_capped(matching)
    params = request.GET.copy()
    params.pop("after", None)
    return {
        "runs": page, "is_first_page": not request.GET.get("after"), "match_count": total,
        "match_count_label": f"{format_count(total)}{'+' if more else ''}", "filter_query": params.urlencode(),
        "next_url": f"?{params.urlencode()}&{urlencode({'after': next_cursor})}" if next_cursor else None,
    }


@role_required(OPERATIONS, unless=access.may_open_session)
def runs(request: HttpRequest) -> HttpResponse:
    context = _range_context(request, None) | {"form": scope_form(RunFilterForm(request.GET or None), request.user)}
    try:
        form, time_range = _run_filters(request)
        matching = scope_agents(queries.filter_runs(form.cleaned_data, time_range), request.user, "agent__department_id")
        context.update(_list_page(request, matching))
    except ValueError as exc:
        context["filter_error"] = str(exc)
        return render(request, "monitoring/runs.html", context, status=400)
    context.update({"time_range": time_range, "chosen_agent": form.cleaned_data.get("agent")})
    template = "monitoring/runs.html#results" if request.htmx else "monitoring/runs.html"
    return render(request, template, context)


def _agent_run_form(request: HttpRequest) -> AgentRunFilterForm:
    """The filters of an agent's runs, offering the user's departments' agents as callers."""
    return AgentRunFilterForm(request.GET, callers=scope_agents(Agent.objects.all(), request.user))


@role_required(OPERATIONS)
def agent_runs(request: HttpRequest, slug: str) -> HttpResponse:
    """Every run of one agent: its invocations at the top of a trace or inside another agent's, the
    runs its tile and charts count, with their own figures and caller, each opening its trace."""
    agent = get_object_or_404(Agent, slug=slug)
    require_agent(request.user, agent)
    form = _agent_run_form(request)
    context = _range_context(request, None) | {"agent": agent, "form": form}
    try:
        time_range = context["time_range"] = timerange.parse_range(request.GET)
        _require_valid(form)
        context.update(_list_page(request, invocations.filter_invocations(agent, form.cleaned_data, time_range)))
    except ValueError as exc:
        context["filter_error"] = str(exc)
        return render(request, "monitoring/agent_runs.html", context, status=400)
    return render(request, "monitoring/agent_runs.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


AGENT_RUN_CSV_COLUMNS = [
    "trace_id", "span_id", "agent", "caller", "started_at", "duration_ms", "status", "error_type", "model",
    "prompt_version", "input_tokens", "output_tokens", "cost", "total_cost", "quality_score", "escalations",
]


@role_required(OPERATIONS)
def agent_runs_export(request: HttpRequest, slug: str) -> HttpResponse:
    """An agent's runs (invocations) as filtered on its runs page, as CSV, streamed: own tokens and
    cost, and ``total_cost`` with the agents it called."""
    agent = get_object_or_404(Agent, slug=slug)
    require_agent(request.user, agent)
    form = _agent_run_form(request)
    try:
        time_range = timerange.parse_range(request.GET)
        _require_valid(form)
    except ValueError as exc:
        return _bad_request(request, str(exc))

    def rows() -> Iterator[str]:
        writer = csv_writer(_Echo())  # formula-safe: names and error types are telemetry text
        yield writer.writerow(AGENT_RUN_CSV_COLUMNS)
        for r in invocations.filter_invocations(agent, form.cleaned_data, time_range).iterator(chunk_size=2000):
            yield writer.writerow([
                r.trace_id, r.span_id, agent.slug, r.caller_agent.slug if r.caller_agent else "",
                r.started_at.isoformat(), f"{r.duration_ms:.1f}", r.status, r.error_type, r.model, r.prompt_version,
                r.input_tokens, r.output_tokens, r.cost, r.total_cost,
                "" if r.quality_score is None else r.quality_score, r.escalations,
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="runs-{agent.slug}-{stamp}.csv"'
    return response


CSV_COLUMNS = ["trace_id", "agent", "started_at", "duration_ms", "status", "error_type", "model", "prompt_version",
               "session_id", "input_tokens", "output_tokens", "cost", "quality_score", "has_escalation"]


def _csv_rows(runs_qs) -> Iterator[str]:
    writer = csv_writer(_Echo())  # formula-safe: run names and errors are telemetry text
    yield writer.writerow(CSV_COLUMNS)
    for run in runs_qs.iterator(chunk_size=2000):
        yield writer.writerow([
            run.trace_id, run.agent.slug, run.started_at.isoformat(), f"{run.duration_ms:.1f}", run.status,
            run.error_type, run.model, run.prompt_version, run.session_id, run.input_tokens, run.output_tokens,
            run.cost, "" if run.quality_score is None else run.quality_score, "yes" if run.has_escalation else "no",
        ])


@role_required(OPERATIONS)
def runs_export(request: HttpRequest) -> HttpResponse:
    """The filtered run list as CSV, streamed (no size cap, constant memory)."""
    try:
        form, time_range = _run_filters(request)
    except ValueError as exc:
        return _bad_request(request, str(exc))
    response = StreamingHttpResponse(_csv_rows(scope_agents(queries.filter_runs(form.cleaned_data, time_range), request.user, "agent__department_id")),
                                     content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="runs-{stamp}.csv"'
    return response


@role_required(OPERATIONS, unless=access.may_open_run)
def run_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    run = Run.objects.select_related("agent", "prompt").filter(trace_id=trace_id).order_by("-started_at").first()
    if run is None:
        # Past retention (its day partition was dropped) or never received: a page that says so,
        # linked from tickets and alerts that outlive the telemetry.
        return render(request, "monitoring/run_gone.html", {
            "trace_id": trace_id[:64], "retention_days": settings.TELEMETRY_RETENTION_DAYS,
        })
    require_agent(request.user, run.agent)
    # A trace can cross departments (a sub-agent of another one): a scoped user sees their agents' steps.
    rows = [row for row in queries.waterfall(run) if allows_agent(request.user, row.step.agent)]
    return render(request, "monitoring/run_detail.html", {
        "run": run, "rows": rows, "hidden_steps": run.steps.count() - len(rows) if department_ids(request.user) else 0,
        # The same rule for the invocation tree: another department's agents are left out.
        "tree": [row for row in invocations.invocation_tree(run) if allows_agent(request.user, row.invocation.agent)],
        "scores": list(run.scores.order_by("created_at")),
        "escalations": list(scope_rows(run.escalations.order_by("occurred_at"), request.user)),
        "trace_links": links(TRACE_LINKS, run),
        "failure_origin": failure_origin(run.id) if run.status == "error" else None,
        "failure_links": links(FAILURE_LINKS, run) if run.status == "error" else [],
    })
