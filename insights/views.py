"""Insights pages: root causes, failure group drill-down, prompt version comparison, agent map.

Thin views: check the role (before the HTTP method, so anonymous visitors are sent to sign in), validate the query string with a form (bad input -> 400 with the form's
message), call one selector or service, render. With htmx, the page's named partial is rendered.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agentops.models import Agent, PromptRollout, PromptVersion
from agentops.permissions import OPERATIONS, role_required
from agentops.scoping import department_ids, scope_agents, scope_form, scope_rows
from handoffs.models import Ticket
from insights import agent_map as map_queries
from insights import charts
from insights import compare as compare_queries
from insights import queries as insight_queries
from insights import services as insights
from insights.forms import (
    CompareForm,
    CompareRangeForm,
    DraftFromGroupForm,
    DraftFromTicketForm,
    MapFilterForm,
    MarkGroupForm,
    RangeForm,
    RootCauseFilterForm,
)
from monitoring.rollups import insight_queries as insight_cells

FINGERPRINT_RE = re.compile(r"^[0-9a-f]{40}$")
EDGE_COLUMNS = (("source", "From"), ("target", "To"), ("kind", "Kind"), ("calls", "Calls"),
                ("failure_rate", "Failure rate"), ("p95", "p95 latency"), ("cost_per_call", "Cost per call"))
NUMERIC_EDGE_COLUMNS = ("calls", "failure_rate", "p95", "cost_per_call")


def _group_agents(request: HttpRequest, fingerprint: str):
    # The agents the group's failures were attributed to (its failing invocations' agents), from its cells.
    return scope_agents(Agent.objects.filter(pk__in=insight_cells.group_agents(fingerprint)), request.user)


def _require_group(request: HttpRequest, fingerprint: str) -> None:
    """404 for a failure group none of whose runs belong to a scoped user's departments."""
    if department_ids(request.user) is not None and not _group_agents(request, fingerprint).exists():
        raise Http404("No runs have this failure fingerprint.")


def _render(request: HttpRequest, template: str, partial: str, context: dict, status: int = 200) -> HttpResponse:
    name = f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template
    return render(request, name, context, status=status)


@role_required(OPERATIONS)
@require_GET
def root_causes(request: HttpRequest) -> HttpResponse:
    form = scope_form(RootCauseFilterForm(request.GET), request.user)
    if not form.is_valid():
        return render(request, "insights/root_causes.html", {"form": form}, status=400)
    start, end = form.window()
    groups = insight_queries.failure_groups(start, end, agent=form.cleaned_data.get("agent"), user=request.user)
    pareto = insight_queries.reviewer_root_causes(start, end, user=request.user)
    context = {
        "form": form, "groups": groups, "pareto": pareto, "start": start, "end": end,
        "groups_fig": charts.groups_figure(groups).to_json() if groups else None,
        "pareto_fig": charts.pareto_figure(pareto).to_json() if pareto else None,
    }
    return _render(request, "insights/root_causes.html", "results", context)


def _group_context(request: HttpRequest, fingerprint: str, **extra) -> dict:
    if not FINGERPRINT_RE.match(fingerprint):
        raise Http404("That is not a failure fingerprint.")
    _require_group(request, fingerprint)  # a scoped user sees groups that failed in their own agents only
    range_form = RangeForm(request.GET)
    if not range_form.is_valid():
        range_form = RangeForm({})
        range_form.is_valid()
    start, end = range_form.window()
    detail = insight_queries.failure_group_detail(fingerprint, start, end, user=request.user)
    if detail is None:
        raise Http404("No runs have this failure fingerprint.")
    agents = _group_agents(request, fingerprint).order_by("name")
    annotation = detail.annotation
    context = {
        "detail": detail, "range_form": range_form, "start": start, "end": end,
        "mark_form": MarkGroupForm(initial={
            "root_cause": annotation.root_cause_id, "owner": annotation.owner_id, "note": annotation.note,
        } if annotation else None, current_cause=annotation.root_cause if annotation else None),
        "draft_form": DraftFromGroupForm(agents=agents, initial={"agent": agents.first()}),
        "daily_fig": charts.daily_figure(detail.daily).to_json() if detail.daily else None,
        "origin": detail.origin,
    }
    context.update(extra)
    return context


@role_required(OPERATIONS)
@require_GET
def failure_group(request: HttpRequest, fingerprint: str) -> HttpResponse:
    return render(request, "insights/failure_group.html", _group_context(request, fingerprint))


@role_required(OPERATIONS)
@require_POST
def failure_group_mark(request: HttpRequest, fingerprint: str) -> HttpResponse:
    _require_group(request, fingerprint)
    annotation = insights.annotation_for_fingerprint(fingerprint)
    form = MarkGroupForm(request.POST, current_cause=annotation.root_cause if annotation else None)
    if form.is_valid():
        try:
            insights.mark_failure_group(fingerprint, root_cause=form.cleaned_data["root_cause"],
                                        note=form.cleaned_data["note"], owner=form.cleaned_data["owner"],
                                        by=request.user)
        except insights.InsightError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved. It applies to this group's future runs too.")
            return redirect("insights:failure_group", fingerprint=fingerprint)
    context = _group_context(request, fingerprint, mark_form=form)
    return render(request, "insights/failure_group.html", context, status=400)


def _prompt_url(draft: PromptVersion) -> str:
    return reverse("registry:prompt_detail", args=[draft.agent.slug, draft.version])


@role_required(OPERATIONS)
@require_POST
def draft_from_group(request: HttpRequest, fingerprint: str) -> HttpResponse:
    _require_group(request, fingerprint)
    agents = _group_agents(request, fingerprint)
    form = DraftFromGroupForm(request.POST, agents=agents)
    if form.is_valid():
        try:
            draft = insights.start_draft_from_group(fingerprint, form.cleaned_data["agent"], author=request.user,
                                                    change_note=form.cleaned_data["change_note"])
        except insights.InsightError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Draft prompt v{draft.version} of {draft.agent.name} created with "
                                      f"{draft.draft_cases.count()} motivating cases.")
            return redirect(_prompt_url(draft))
    context = _group_context(request, fingerprint, draft_form=form)
    return render(request, "insights/failure_group.html", context, status=400)


@role_required(OPERATIONS)
@require_POST
def draft_from_ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    if department_ids(request.user) is not None and not scope_rows(Ticket.objects.filter(pk=ticket_id), request.user).exists():
        raise Http404("There is nothing at this address.")
    form = DraftFromTicketForm(request.POST)
    form.is_valid()  # only an optional, length-limited note
    try:
        draft = insights.start_draft_from_ticket(ticket_id, author=request.user,
                                                 change_note=form.cleaned_data.get("change_note", ""))
    except insights.InsightError as exc:
        return render(request, "error.html", {"status": 400, "title": "Cannot start a prompt draft",
                                              "message": str(exc)}, status=400)
    messages.success(request, f"Draft prompt v{draft.version} of {draft.agent.name} created from ticket #{ticket_id}.")
    return redirect(_prompt_url(draft))


@role_required(OPERATIONS)
@require_GET
def compare(request: HttpRequest, slug: str) -> HttpResponse:
    agent = get_object_or_404(scope_agents(Agent.objects.select_related("department"), request.user), slug=slug)
    # The range decides which versions can be picked; a bad range is reported by CompareForm below.
    range_form = CompareRangeForm(request.GET if CompareRangeForm(request.GET).is_valid() else {})
    range_form.is_valid()
    start, end = range_form.window()
    versions = compare_queries.version_stats(agent, start, end)
    form = CompareForm(request.GET, version_choices=[(v.key, v.label) for v in versions])
    rollout = PromptRollout.objects.select_related("candidate").filter(agent=agent).first()
    active = agent.active_prompt() if rollout else None
    arms = (insight_queries.prompt_key(active.pk, ""), insight_queries.prompt_key(rollout.candidate_id, "")) if active else None
    seen = {v.key for v in versions}
    context = {"agent": agent, "form": form, "versions": versions, "start": start, "end": end, "rollout": rollout,
               # a link only when both arms have runs in the range (the form offers only those)
               "rollout_keys": arms if arms and set(arms) <= seen else None}
    if not form.is_valid():
        return render(request, "insights/compare.html", context, status=400)
    by_key = {v.key: v for v in versions}
    a, b = form.cleaned_data.get("a"), form.cleaned_data.get("b")
    if a and b:
        context["versions"] = [by_key[a], by_key[b]]
        context["comparison"] = compare_queries.compare_versions(by_key[a], by_key[b])
    elif len(versions) >= 2:
        context["comparison"] = compare_queries.compare_versions(versions[-2], versions[-1])
    shown = context["versions"]
    context["success_fig"] = charts.success_rate_figure(shown).to_json() if shown else None
    return _render(request, "insights/compare.html", "results", context)


@role_required(OPERATIONS)
@require_GET
def agent_map(request: HttpRequest) -> HttpResponse:
    form = scope_form(MapFilterForm(request.GET), request.user)
    if not form.is_valid():
        return render(request, "insights/agent_map.html", {"form": form}, status=400)
    start, end = form.window()
    department = form.cleaned_data.get("department")
    sort = form.cleaned_data.get("sort") or "calls"
    descending = (form.cleaned_data.get("dir") or "desc") == "desc"
    edges = map_queries.interaction_edges(start, end, department.id if department else None, sort, descending,
                                          user=request.user)
    context = {
        "form": form, "edges": edges, "start": start, "end": end, "sort": sort, "descending": descending,
        "sankey_fig": charts.sankey_figure(edges).to_json() if edges else None,
        "query_base": _query_without(request, "sort", "dir"),
        "sort_columns": EDGE_COLUMNS, "numeric_columns": NUMERIC_EDGE_COLUMNS,
    }
    return _render(request, "insights/agent_map.html", "results", context)


def _query_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    encoded = params.urlencode()
    return f"{encoded}&" if encoded else ""
