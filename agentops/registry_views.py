"""Registry pages: agents, prompt versions, API keys, model prices, departments (Operations role).

Views are thin: validate input with a form, call one query or service, render. With htmx, list
pages render only their ``results`` partial.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from . import queries, services
from .extensions import AGENT_PANELS, AGENT_STAGE_PANELS, PROMPT_PANELS, render_panels
from .forms import (
    AdoptAgentForm,
    AgentFilterForm,
    AgentForm,
    ApiKeyForm,
    DepartmentForm,
    ModelPriceForm,
    PromptDiffForm,
    PromptVersionForm,
    RolloutForm,
)
from .models import ApiKey, Department, ModelPrice
from .permissions import OPERATIONS, role_required
from .prompt_diff import change_counts, side_by_side, unified_diff
from .scoping import allows_agent, department_ids, scope_agents, scope_form, scope_rows

AGENTS_PER_PAGE = 50


def operations_page(view: Callable) -> Callable:
    """Operations role required; a 404 raised inside renders the layout's error page with its message.

    The project-wide 404 handler shows a generic text; here the message names what is missing
    (an agent slug, a prompt version), which is what an operator needs to fix a bookmarked link.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return _not_found(request, str(exc))

    return role_required(OPERATIONS)(wrapped)


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    # get_object_or_404's default message ("No Agent matches the given query.") is readable enough.
    return render(
        request, "error.html", {"status": 404, "title": "Not found", "message": message or "Not found."}, status=404
    )


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "error.html", {"status": 400, "title": "Bad request", "message": message}, status=400)


def _agent_or_404(slug: str, user=None):
    """The agent, or a 404 naming the slug; agents outside a scoped user's departments do not exist for them."""
    try:
        agent = queries.agent_by_slug(slug)
    except Http404:
        agent = None
    if agent is None or not allows_agent(user, agent):
        raise Http404(f"There is no agent with the slug “{slug}”.")
    return agent


# --- agents -----------------------------------------------------------------------------------


@vary_on_headers("HX-Request")  # one URL, two bodies: caches must not serve the fragment as the page
@operations_page
def agent_list(request: HttpRequest) -> HttpResponse:
    form = AgentFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # invalid filters are reported next to the field and otherwise ignored
    filters = form.filters() if form.is_bound else queries.AgentFilters()
    agents = scope_agents(queries.agent_list(filters), request.user)
    page = Paginator(agents, AGENTS_PER_PAGE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "agents": page.object_list,
        "filtered": filters != queries.AgentFilters(),
        "discovered_count": queries.discovered_count(),
        "querystring": querystring.urlencode(),
    }
    # A history restore (back button after a cache miss) needs the whole page, not the fragment.
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "agentops/agent_list.html#results" if fragment else "agentops/agent_list.html"
    return render(request, template, context)


@operations_page
def agent_detail(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    context = {
        "agent": agent,
        "versions": queries.prompt_versions(agent),
        "active_prompt": agent.active_prompt(),
        "api_keys": queries.agent_api_keys(agent),
        "panels": render_panels(AGENT_PANELS, request, agent=agent),
    }
    return render(request, "agentops/agent_detail.html", context)


@operations_page
@require_http_methods(["GET", "POST"])
def agent_create(request: HttpRequest) -> HttpResponse:
    form = scope_form(AgentForm(request.POST or None), request.user)
    if request.method == "POST" and form.is_valid():
        agent = form.save()
        messages.success(request, f"Agent “{agent.name}” registered as {agent.slug}.")
        return redirect(agent)
    return render(request, "agentops/agent_form.html", {"form": form, "agent": None})


@operations_page
@require_http_methods(["GET", "POST"])
def agent_edit(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    form = scope_form(AgentForm(request.POST or None, instance=agent), request.user)
    if request.method == "POST" and form.is_valid():
        agent = form.save()
        messages.success(request, f"Agent “{agent.name}” saved.")
        return redirect(agent)
    stage_panels = render_panels(AGENT_STAGE_PANELS, request, agent=agent)
    return render(request, "agentops/agent_form.html", {"form": form, "agent": agent, "stage_panels": stage_panels})


@operations_page
@require_http_methods(["GET", "POST"])
def agent_adopt(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    if not agent.discovered:
        messages.info(request, f"“{agent.name}” is already a registered agent.")
        return redirect(agent)
    initial = {"owner": request.user.pk, "department": agent.department_id}
    form = scope_form(AdoptAgentForm(request.POST or None, initial=initial), request.user)
    if request.method == "POST" and form.is_valid():
        services.adopt_agent(agent, **form.cleaned_data)
        messages.success(request, f"“{agent.name}” adopted into {agent.department}.")
        return redirect(agent)
    return render(request, "agentops/agent_adopt.html", {"form": form, "agent": agent})


@operations_page
@require_POST
def agent_archive(request: HttpRequest, slug: str) -> HttpResponse:
    """Archive the agent, or bring it back (``restore``); back to its page."""
    agent = _agent_or_404(slug, request.user)
    restore = request.POST.get("restore") == "1"
    services.set_archived(agent, not restore, request.user)
    messages.success(request, f"“{agent.name}” {'restored' if restore else 'archived: hidden from the overview and lists unless shown'}.")
    return redirect(agent)


# --- prompt versions --------------------------------------------------------------------------


@operations_page
def prompt_list(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    versions = list(queries.prompt_versions(agent))
    context = {"agent": agent, "versions": versions, "rollout": queries.rollout(agent)}
    return render(request, "agentops/prompt_list.html", context)


@operations_page
@require_http_methods(["GET", "POST"])
def prompt_create(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    active = agent.active_prompt()
    form = PromptVersionForm(request.POST or None, initial={"text": active.text if active else ""})
    if request.method == "POST" and form.is_valid():
        prompt = services.create_prompt_version(agent, author=request.user, **form.cleaned_data)
        state = "active" if prompt.is_active else "not active"
        messages.success(request, f"Version {prompt.version} saved ({state}).")
        return redirect("registry:prompt_detail", slug=agent.slug, version=prompt.version)
    return render(request, "agentops/prompt_form.html", {"agent": agent, "form": form, "active": active})


def _version_or_404(agent, version: int):
    try:
        return queries.prompt_version(agent, version)
    except Http404:
        raise Http404(f"{agent.name} has no prompt version {version}.") from None


@operations_page
def prompt_detail(request: HttpRequest, slug: str, version: int, rollout_form: RolloutForm | None = None,
                  status: int = 200) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    prompt = _version_or_404(agent, version)
    previous = agent.prompt_versions.filter(version__lt=version).order_by("-version").values_list(
        "version", flat=True
    ).first()
    context = {
        "agent": agent, "prompt": prompt, "previous": previous, "rollout": queries.rollout(agent),
        "rollout_form": rollout_form or RolloutForm(),
        "panels": render_panels(PROMPT_PANELS, request, agent=agent, prompt=prompt),
    }
    return render(request, "agentops/prompt_detail.html", context, status=status)


@operations_page
@require_POST
def prompt_rollout(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    """Serve this version to a share of the agent's traffic (agents reading the registry API)."""
    agent = _agent_or_404(slug, request.user)
    prompt = _version_or_404(agent, version)
    form = RolloutForm(request.POST)
    if form.is_valid():
        try:
            rollout = services.start_rollout(prompt, form.cleaned_data["share"], request.user)
        except services.RegistryError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Version {prompt.version} now serves {rollout.share} % of {agent.name}'s "
                                      "traffic. Compare it with the active version as runs arrive.")
            return redirect("registry:prompt_detail", slug=agent.slug, version=prompt.version)
    return prompt_detail(request, slug, version, rollout_form=form, status=400)


@operations_page
@require_POST
def rollout_rollback(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    ended = services.roll_back(agent)
    if ended is None:
        messages.info(request, f"{agent.name} had no rollout in progress; nothing changed.")
    else:
        messages.success(request, f"Rolled back: every request of {agent.name} gets the active version again "
                                  f"(v{ended.candidate.version} no longer serves traffic).")
    return redirect("registry:prompt_list", slug=agent.slug)


@operations_page
@require_POST
def rollout_promote(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    try:
        prompt = services.promote_candidate(agent)
    except services.RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Version {prompt.version} is now the active prompt of {agent.name} "
                                  "for all traffic.")
    return redirect("registry:prompt_list", slug=agent.slug)


@operations_page
@require_POST
def prompt_activate(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    prompt = _version_or_404(agent, version)
    services.activate_prompt_version(prompt)
    messages.success(request, f"Version {prompt.version} is now the active prompt of {agent.name}.")
    return redirect("registry:prompt_list", slug=agent.slug)


@operations_page
def prompt_diff(request: HttpRequest, slug: str) -> HttpResponse:
    agent = _agent_or_404(slug, request.user)
    numbers = list(agent.prompt_versions.order_by("version").values_list("version", flat=True))
    context: dict = {"agent": agent, "numbers": numbers}
    if len(numbers) < 2:
        return render(request, "agentops/prompt_diff.html", {**context, "form": None})
    data = request.GET.copy() if "a" in request.GET or "b" in request.GET else None
    if data is None:  # a plain link: compare the two newest versions
        data = {"a": numbers[-2], "b": numbers[-1], "mode": request.GET.get("mode", "unified")}
    form = PromptDiffForm(data)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return _bad_request(request, f"Cannot compare these versions ({problems}). Use whole version numbers.")
    old = _version_or_404(agent, form.cleaned_data["a"])
    new = _version_or_404(agent, form.cleaned_data["b"])
    lines = unified_diff(old.text, new.text, f"v{old.version}", f"v{new.version}")
    added, removed = change_counts(lines)
    mode = form.cleaned_data["mode"] or "unified"
    context |= {
        "form": form,
        "old": old,
        "new": new,
        "mode": mode,
        "lines": lines,
        "rows": side_by_side(old.text, new.text) if mode == "split" else [],
        "added": added,
        "removed": removed,
    }
    return render(request, "agentops/prompt_diff.html", context)


# --- API keys ---------------------------------------------------------------------------------


@operations_page
def apikey_list(request: HttpRequest) -> HttpResponse:
    keys = scope_rows(queries.api_keys(), request.user)  # a scoped user: only their agents' keys
    context = {"keys": keys, "form": _apikey_form(request)}
    return render(request, "agentops/apikey_list.html", context)


@never_cache  # the response carries the only copy of the token: browsers and proxies must not keep it
@operations_page
@require_http_methods(["GET", "POST"])
def apikey_create(request: HttpRequest) -> HttpResponse:
    form = _apikey_form(request, request.POST or None, initial={"agent": request.GET.get("agent")})
    if request.method == "POST" and form.is_valid():
        key, token = services.create_api_key(
            form.cleaned_data["label"], form.cleaned_data["agent"], created_by=request.user
        )
        # Post/redirect/get: a reload of the next page must not create a second key. The token goes
        # through the session to that page, which shows it once and forgets it.
        request.session[f"{NEW_TOKEN_SESSION_KEY}{key.pk}"] = token
        return redirect("registry:apikey_created", pk=key.pk)
    return render(request, "agentops/apikey_form.html", {"form": form})


NEW_TOKEN_SESSION_KEY = "new_api_token_"


def _apikey_form(request: HttpRequest, *args, **kwargs) -> ApiKeyForm:
    """A scoped user's keys are restricted to one of their agents: an unrestricted key could send any
    department's telemetry."""
    form = scope_form(ApiKeyForm(*args, **kwargs), request.user)
    if department_ids(request.user) is not None:
        form.fields["agent"].required = True
        form.fields["agent"].empty_label = None
    return form


@never_cache  # the response carries the only copy of the token: browsers and proxies must not keep it
@operations_page
@require_GET
def apikey_created(request: HttpRequest, pk: int) -> HttpResponse:
    """The new key's token, once: taken out of the session, so a reload shows that it was shown."""
    key = get_object_or_404(scope_rows(ApiKey.objects.select_related("agent"), request.user), pk=pk)
    token = request.session.pop(f"{NEW_TOKEN_SESSION_KEY}{key.pk}", None)
    context = {"key": key, "token": token, "intake_url": request.build_absolute_uri("/v1/traces")}
    return render(request, "agentops/apikey_created.html", context)


@operations_page
@require_http_methods(["GET", "POST"])
def apikey_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(scope_rows(ApiKey.objects.select_related("agent"), request.user), pk=pk)
    if request.method == "POST":
        services.revoke_api_key(key)
        messages.success(request, f"Key “{key.label}” (ao_{key.prefix}_…) revoked; it no longer authenticates.")
        return redirect("registry:apikey_list")
    return render(request, "agentops/apikey_revoke.html", {"key": key})


# --- model prices -----------------------------------------------------------------------------


@operations_page
@require_http_methods(["GET", "POST"])
def modelprice_list(request: HttpRequest) -> HttpResponse:
    form = ModelPriceForm(request.POST or None, initial={"currency": "USD", "model_name": request.GET.get("model", "")})
    if request.method == "POST" and form.is_valid():
        price = form.save(commit=False)
        price.created_by = request.user
        price.save()
        messages.success(request, f"Price for {price.model_name} from {price.effective_from:%Y-%m-%d %H:%M} added.")
        return redirect("registry:modelprice_list")
    context = {"groups": queries.model_price_groups(), "form": form, "now": timezone.now()}
    return render(request, "agentops/modelprice_list.html", context)


@operations_page
@require_http_methods(["GET", "POST"])
def modelprice_delete(request: HttpRequest, pk: int) -> HttpResponse:
    price = get_object_or_404(ModelPrice, pk=pk)
    if request.method == "POST":
        try:
            services.delete_model_price(price)
        except services.RegistryError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Scheduled {price.model_name} price removed.")
        return redirect("registry:modelprice_list")
    return render(request, "agentops/modelprice_delete.html", {"price": price})


# --- departments ------------------------------------------------------------------------------


@operations_page
def department_list(request: HttpRequest) -> HttpResponse:
    departments = scope_agents(queries.departments(), request.user, "pk")
    return render(request, "agentops/department_list.html", {"departments": departments})


@operations_page
@require_http_methods(["GET", "POST"])
def department_create(request: HttpRequest) -> HttpResponse:
    return _department_form(request, DepartmentForm(request.POST or None))


@operations_page
@require_http_methods(["GET", "POST"])
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    department = get_object_or_404(scope_agents(Department.objects.all(), request.user, "pk"), pk=pk)
    return _department_form(request, DepartmentForm(request.POST or None, instance=department))


def _department_form(request: HttpRequest, form: DepartmentForm) -> HttpResponse:
    if request.method == "POST" and form.is_valid():
        department = form.save()
        messages.success(request, f"Department “{department.name}” saved.")
        return redirect(reverse("registry:department_list"))
    return render(request, "agentops/department_form.html", {"form": form})
