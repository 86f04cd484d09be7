"""Lifecycle pages: board, agent lifecycle, promotion/demotion/approval actions, criteria, portfolio."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentops.models import Agent
from agentops.permissions import FINANCE, OPERATIONS, has_role, role_required
from agentops.scoping import department_ids, require_agent, scope_agents, scope_form, scope_rows

from . import portfolio as portfolio_figures
from . import queries, services, stages, tasks
from .criteria import DEFAULTS, resolve
from .forms import (
    BoardFilterForm,
    CriteriaForm,
    DecisionForm,
    DemoteForm,
    OverrideForm,
    PortfolioForm,
    PromoteForm,
    SettingsForm,
)
from .models import PendingPromotion, StageCriteria, WatchFlag


def _agent(slug: str, user) -> Agent:
    """The agent, 404 outside a scoped user's departments."""
    return get_object_or_404(scope_agents(Agent.objects.select_related("department", "owner"), user), slug=slug)


def _require_department(user, department_id: int) -> None:
    ids = department_ids(user)
    if ids is not None and department_id not in ids:
        raise Http404("There is nothing at this address.")


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@require_GET
@role_required(OPERATIONS)
def board(request: HttpRequest) -> HttpResponse:
    form = scope_form(BoardFilterForm(request.GET), request.user)
    if not form.is_valid():
        return render(request, "lifecycle/board.html", {"form": form, "columns": []}, status=400)
    department = form.cleaned_data["department"]
    columns = queries.board(department, user=request.user)
    context = {"form": form, "columns": columns, "agent_count": sum(len(c.cards) for c in columns),
               "department": department,
               "pending": queries.pending_list(request.user), "settings": queries.settings_row()}
    template = "lifecycle/board.html#board" if request.htmx else "lifecycle/board.html"
    return render(request, template, context)


def _agent_context(request: HttpRequest, agent: Agent, **forms) -> dict:
    card = queries.agent_card(agent)
    return {
        "agent": card.agent, "card": card, "history": queries.history(agent),
        "promote_form": forms.get("promote_form") or PromoteForm(initial={"expected_stage": agent.lifecycle_stage}),
        "demote_form": forms.get("demote_form") or DemoteForm(agent=agent),
        "settings": queries.settings_row(), "can_act": has_role(request.user, OPERATIONS),
    }


@require_GET
@role_required(OPERATIONS)
def agent_page(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent(slug, request.user)
    return render(request, "lifecycle/agent.html", _agent_context(request, agent))


@require_POST
@role_required(OPERATIONS)
def promote(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent(slug, request.user)
    form = PromoteForm(request.POST)
    page = reverse("lifecycle:agent", args=[agent.slug])
    if not form.is_valid():
        return render(request, "lifecycle/agent.html", _agent_context(request, agent, promote_form=form), status=400)
    data = form.cleaned_data
    try:
        result = services.promote(agent, request.user, reason=data["reason"], override=data["override"],
                                  expected_stage=data["expected_stage"] or None)
    except services.LifecycleRefused as exc:
        messages.error(request, str(exc))
        # Refused from the board: the agent's page shows each criterion and offers the override.
        return redirect(page if not data["override"] else _back(request, page))
    if isinstance(result, PendingPromotion):
        messages.success(request, f"Promotion of {agent.name} to {stages.label(result.to_stage)} requested; "
                                  "it waits for a second operations user to approve it.")
    else:
        messages.success(request, f"{agent.name} promoted to {stages.label(result.to_stage)}.")
        tasks.sync_watch_alerts.delay()  # a move resolves the agent's watch flag, and so its alert
    return redirect(_back(request, page))


@require_POST
@role_required(OPERATIONS)
def demote(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent(slug, request.user)
    form = DemoteForm(request.POST, agent=agent)
    if not form.is_valid():
        return render(request, "lifecycle/agent.html", _agent_context(request, agent, demote_form=form), status=400)
    try:
        event = services.demote(agent, request.user, form.cleaned_data["to_stage"], reason=form.cleaned_data["reason"])
    except services.LifecycleRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{agent.name} moved to {stages.label(event.to_stage)}.")
        tasks.sync_watch_alerts.delay()
    return redirect(_back(request, reverse("lifecycle:agent", args=[agent.slug])))


@require_POST
@role_required(OPERATIONS)
def decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    pending = get_object_or_404(scope_rows(PendingPromotion.objects.select_related("agent"), request.user), pk=pk)
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if decision == "approve":
            services.approve(pending, request.user)
            messages.success(request, f"{pending.agent.name} promoted to {stages.label(pending.to_stage)}.")
            tasks.sync_watch_alerts.delay()
        else:
            services.reject(pending, request.user, note=note)
            messages.success(request, f"The promotion of {pending.agent.name} was rejected.")
    except services.LifecycleRefused as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, reverse("lifecycle:agent", args=[pending.agent.slug])))


@require_POST
@role_required(OPERATIONS)
def dismiss_flag(request: HttpRequest, pk: int) -> HttpResponse:
    flag = get_object_or_404(scope_rows(WatchFlag.objects.select_related("agent"), request.user), pk=pk)
    form = DecisionForm(request.POST)
    services.dismiss_flag(flag, request.user, form.cleaned_data["note"] if form.is_valid() else "")
    messages.success(request, f"The watch flag on {flag.agent.name} was dismissed.")
    tasks.sync_watch_alerts.delay()
    return redirect(_back(request, reverse("lifecycle:agent", args=[flag.agent.slug])))


# ---------------------------------------------------------------------------------------------
# Criteria and settings


@require_http_methods(["GET", "POST"])
@role_required(OPERATIONS)
def criteria(request: HttpRequest) -> HttpResponse:
    settings_form = SettingsForm(request.POST or None, instance=queries.settings_row())
    if request.method == "POST" and settings_form.is_valid():
        services.save_settings(settings_form.cleaned_data, request.user)
        messages.success(request, "Lifecycle settings saved.")
        return redirect("lifecycle:criteria")
    own, overrides = queries.criteria_rows(request.user)
    stage_list = [{"stage": s, "label": stages.label(s), "row": own[s],
                   "criteria": resolve(s, own[s].values() if own[s] else {})} for s in stages.GATED]
    return render(request, "lifecycle/criteria.html", {
        "stages": stage_list, "overrides": overrides, "settings_form": settings_form,
    }, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@role_required(OPERATIONS)
def criteria_stage(request: HttpRequest, stage: str) -> HttpResponse:
    if stage not in stages.GATED:
        return render(request, "error.html", {"status": 404, "message": f"There is no stage “{stage}”."}, status=404)
    row = StageCriteria.objects.filter(stage=stage, department__isnull=True, agent__isnull=True).first()
    form = CriteriaForm(request.POST or None, instance=row or StageCriteria(stage=stage), inherited=DEFAULTS[stage])
    if request.method == "POST" and form.is_valid():
        services.save_criteria(form.instance, request.user)
        messages.success(request, f"{stages.label(stage)} criteria saved.")
        return redirect("lifecycle:criteria")
    return render(request, "lifecycle/criteria_form.html", {
        "form": form, "title": f"Criteria for entering {stages.label(stage)}", "stage": stage,
    }, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@role_required(OPERATIONS)
def criteria_override(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    row = get_object_or_404(StageCriteria, pk=pk, stage__in=stages.GATED) if pk else None
    if row is not None and row.agent_id:
        require_agent(request.user, row.agent)
    elif row is not None and row.department_id:
        _require_department(request.user, row.department_id)
    if row is not None and row.agent_id is None and row.department_id is None:
        return redirect("lifecycle:criteria_stage", stage=row.stage)
    if request.method == "POST" and row is not None and "delete" in request.POST:
        services.delete_override(row)
        messages.success(request, "Override removed; the stage's criteria apply again.")
        return redirect("lifecycle:criteria")
    initial = {"agent": request.GET.get("agent")} if row is None and request.GET.get("agent", "").isdigit() else {}
    stage = row.stage if row else request.POST.get("stage") or request.GET.get("stage") or stages.INTEGRATE
    stage_row = StageCriteria.objects.filter(stage=stage, department__isnull=True, agent__isnull=True).first()
    inherited = resolve(stage, stage_row.values() if stage_row else {}) if stage in stages.GATED else None
    form = scope_form(OverrideForm(request.POST or None, instance=row or StageCriteria(stage=stage), inherited=inherited,
                        initial=initial), request.user)
    if request.method == "POST" and form.is_valid():
        services.save_criteria(form.instance, request.user)
        messages.success(request, "Override saved.")
        return redirect("lifecycle:criteria")
    return render(request, "lifecycle/criteria_form.html", {
        "form": form, "row": row, "override": True,
        "title": f"Override: {row}" if row else "New override for a department or an agent",
    }, status=400 if request.method == "POST" else 200)


# ---------------------------------------------------------------------------------------------
# Portfolio


@require_GET
@role_required(FINANCE, OPERATIONS)
def portfolio(request: HttpRequest) -> HttpResponse:
    form = scope_form(PortfolioForm(request.GET), request.user)
    if not form.is_valid():
        return render(request, "lifecycle/portfolio.html", {"form": form}, status=400)
    data = portfolio_figures.portfolio(form.cleaned_data["days"] or 30, user=request.user)
    template = "lifecycle/portfolio.html#portfolio" if request.htmx else "lifecycle/portfolio.html"
    return render(request, template, {"form": form, "p": data})


