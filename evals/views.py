"""Evals pages: datasets (and adding cases from runs, failure groups, tickets, uploads), endpoints,
evaluators and online evaluation. Experiments are in ``experiment_views``.

Thin views: role check, form, one service or selector, render; bad input -> the form again with the
error next to the field (400), never a stack trace.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from agentops.models import Agent
from agentops.permissions import OPERATIONS, role_required
from agentops.scoping import department_ids, scope_agents, scope_form, scope_rows
from handoffs.models import Ticket
from monitoring import timerange
from monitoring.dashboards import queries as dashboard_queries
from monitoring.dashboards.forms import RunFilterForm
from monitoring.models import Run

from . import online, queries, services, uploads
from .forms import (
    CaseForm,
    DatasetChoiceForm,
    DatasetForm,
    EndpointForm,
    EvaluatorForm,
    OnlineEvaluationForm,
    UploadForm,
    add_service_error,
)
from .models import CaseSource, Dataset, Endpoint, Evaluator, OnlineEvaluation
from .services import EvalsError, NewCase

FINGERPRINT_RE = re.compile(r"^[0-9a-f]{40}$")
RUNS_SHOWN = 100


@role_required(OPERATIONS)
def dataset_list(request: HttpRequest) -> HttpResponse:
    form = scope_form(DatasetForm(request.POST or None), request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                dataset = services.create_dataset(form.cleaned_data["name"], description=form.cleaned_data["description"],
                                                  agent=form.cleaned_data["agent"], by=request.user)
            except EvalsError as exc:
                add_service_error(form, str(exc))
            else:
                messages.success(request, f"Dataset {dataset.name} created. Add cases from runs, failure groups, "
                                          "corrected tickets or a file.")
                return redirect(dataset)
        status = 400
    return render(request, "evals/dataset_list.html", {"datasets": _mine(queries.datasets(), request), "form": form},
                  status=status)


@role_required(OPERATIONS)
@require_GET
def dataset_detail(request: HttpRequest, pk: int, **forms) -> HttpResponse:
    dataset = get_object_or_404(_mine(Dataset.objects.select_related("agent"), request), pk=pk)
    version = request.GET.get("version", "")
    version = int(version) if version.isdigit() and 0 < int(version) <= dataset.version else dataset.version
    page = Paginator(queries.dataset_cases(dataset, version), 50).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset, "version": version, "page": page,
        "experiments": _mine(queries.experiments(dataset=dataset), request)[:20],
        "case_form": forms.get("case_form") or CaseForm(), "upload_form": forms.get("upload_form") or UploadForm(),
        "upload_errors": forms.get("upload_errors", []),
    }
    return render(request, "evals/dataset_detail.html", context, status=forms.get("status", 200))


def _mine(queryset, request: HttpRequest):
    """Rows tied to an agent of a scoped user's departments, and rows tied to none (shared)."""
    return scope_rows(queryset, request.user, keep_null="agent")


def _request_with_get(request: HttpRequest) -> HttpRequest:
    request.method = "GET"
    return request


@role_required(OPERATIONS)
@require_POST
def add_case(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(_mine(Dataset.objects.all(), request), pk=pk)
    form = CaseForm(request.POST)
    if not form.is_valid():
        return dataset_detail(_request_with_get(request), pk, case_form=form, status=400)
    services.add_cases(dataset, [NewCase(input_messages=[{"role": "user", "content": form.cleaned_data["input"]}],
                                         expected_output=form.cleaned_data["expected_output"])])
    messages.success(request, f"Case added: {dataset.name} is now at version {dataset.version}.")
    return redirect(dataset)


@role_required(OPERATIONS)
@require_POST
def upload_cases(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(_mine(Dataset.objects.all(), request), pk=pk)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return dataset_detail(_request_with_get(request), pk, upload_form=form, status=400)
    upload = form.cleaned_data["file"]
    parsed = uploads.parse(upload.name, upload.read(uploads.MAX_UPLOAD_BYTES + 1))
    if parsed.errors:
        return dataset_detail(_request_with_get(request), pk, upload_form=form, upload_errors=parsed.errors, status=400)
    added = services.add_cases(dataset, [
        NewCase(input_messages=c.input_messages, expected_output=c.expected_output, metadata=c.metadata,
                source=CaseSource.UPLOAD, source_ref=f"{upload.name[:100]}:{c.line}") for c in parsed.cases])
    messages.success(request, f"{added} case(s) added from {upload.name}; {dataset.name} is at version {dataset.version}.")
    return redirect(dataset)


@role_required(OPERATIONS)
@require_POST
def remove_case(request: HttpRequest, pk: int, case_id: int) -> HttpResponse:
    dataset = get_object_or_404(_mine(Dataset.objects.all(), request), pk=pk)
    try:
        services.remove_case(dataset, case_id)
    except EvalsError as exc:
        messages.error(request, str(exc))
        return redirect(dataset)
    messages.success(request, f"Case removed: version {dataset.version}. Experiments on earlier versions keep it.")
    return redirect(dataset)


def _target_dataset(request: HttpRequest, form: DatasetChoiceForm, agent=None) -> Dataset:
    dataset = form.cleaned_data.get("dataset")
    if dataset is None:
        dataset = services.create_dataset(form.cleaned_data["new_name"], agent=agent, by=request.user)
    return dataset


def _added(request: HttpRequest, dataset: Dataset, added: int, what: str) -> HttpResponse:
    if added:
        messages.success(request, f"{added} case(s) from {what} added to {dataset.name} (version {dataset.version}).")
    else:
        messages.info(request, f"Every case from {what} is already in {dataset.name}; nothing added.")
    return redirect(dataset)


def _run_filters(request: HttpRequest):
    """The run explorer's own filters and range (same form, same selector), plus a trace id or a
    failure fingerprint; raises ValueError with a message on bad input."""
    form = scope_form(RunFilterForm(request.GET), request.user)
    time_range = timerange.parse_range(request.GET)
    if not form.is_valid():
        raise ValueError("Some filters are not valid: " + "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()))
    runs = dashboard_queries.filter_runs(form.cleaned_data, time_range)
    if request.GET.get("trace"):
        runs = Run.objects.filter(trace_id=request.GET["trace"].strip())
    runs = scope_rows(runs, request.user)
    if FINGERPRINT_RE.match(request.GET.get("fingerprint", "")):
        runs = runs.filter(fingerprint=request.GET["fingerprint"])
    return (runs.select_related("agent").order_by("-started_at", "-id")
            .only("id", "trace_id", "started_at", "status", "name", "input_preview", "agent__slug", "agent__name"))


@role_required(OPERATIONS)
def add_runs(request: HttpRequest) -> HttpResponse:
    """Pick runs (the run explorer's filters carried in the query string) and add them to a dataset."""
    form = scope_form(DatasetChoiceForm(request.POST or None), request.user)
    status = 200
    if request.method == "POST":
        run_ids = [int(r) for r in request.POST.getlist("run") if r.isdigit()]
        run_ids = list(scope_rows(Run.objects.filter(pk__in=run_ids), request.user).values_list("pk", flat=True))
        if not run_ids:
            form.add_error(None, "Select at least one run.")
        elif form.is_valid():
            try:
                cases = services.cases_from_runs(run_ids)
                if not cases:
                    raise EvalsError("The selected runs have no input text to test with.")
                dataset = _target_dataset(request, form)
                return _added(request, dataset, services.add_cases(dataset, cases), f"{len(run_ids)} run(s)")
            except EvalsError as exc:
                add_service_error(form, str(exc))
        status = 400
    filter_error = ""
    try:
        runs = list(_run_filters(request)[:RUNS_SHOWN])
    except ValueError as exc:  # InvalidRange is a ValueError too
        runs, filter_error, status = [], str(exc), 400
    selected = {int(r) for r in request.POST.getlist("run") if r.isdigit()} or (
        {runs[0].pk} if len(runs) == 1 else set())
    return render(request, "evals/add_runs.html", {"form": form, "runs": runs, "selected": selected,
                                                   "filter_error": filter_error, "query": request.GET.urlencode()},
                  status=status)


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page the form was on (``next``), if it is one of ours; else the dataset list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect("evals:dataset_list")


@role_required(OPERATIONS)
@require_POST
def add_failure_group(request: HttpRequest, fingerprint: str) -> HttpResponse:
    form = scope_form(DatasetChoiceForm(request.POST), request.user)
    if not FINGERPRINT_RE.match(fingerprint):
        return render(request, "error.html", {"message": "Not a failure fingerprint."}, status=400)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Choose a dataset.")
        return _back(request)
    try:
        if department_ids(request.user) is None:
            cases = services.cases_from_failure_group(fingerprint)
        else:  # a scoped user: the group's runs of their own agents only
            cases = [c for agent in scope_agents(Agent.objects.filter(runs__fingerprint=fingerprint), request.user)
                     .distinct() for c in services.cases_from_failure_group(fingerprint, agent=agent)]
            if not cases:
                raise Http404("No runs have this failure fingerprint.")
        dataset = _target_dataset(request, form)
    except EvalsError as exc:
        messages.error(request, str(exc))
        return _back(request)
    return _added(request, dataset, services.add_cases(dataset, cases), f"failure group {fingerprint[:10]}")


@role_required(OPERATIONS)
def add_tickets(request: HttpRequest) -> HttpResponse:
    """Resolved tickets with a corrected agent answer: the correction becomes the expected output."""
    form = scope_form(DatasetChoiceForm(request.POST or None), request.user)
    status = 200
    if request.method == "POST":
        ids = [int(t) for t in request.POST.getlist("ticket") if t.isdigit()]
        ids = list(scope_rows(Ticket.objects.filter(pk__in=ids), request.user).values_list("pk", flat=True))
        if not ids:
            form.add_error(None, "Select at least one ticket.")
        elif form.is_valid():
            try:
                cases = services.cases_from_tickets(ids)
                dataset = _target_dataset(request, form)
                return _added(request, dataset, services.add_cases(dataset, cases), f"{len(cases)} ticket(s)")
            except EvalsError as exc:
                add_service_error(form, str(exc))
        status = 400
    tickets = scope_rows(services.correctable_tickets(), request.user).select_related("agent", "run").order_by(
        "-resolved_at", "-id")
    if request.GET.get("agent"):
        tickets = tickets.filter(agent__slug=request.GET["agent"])
    selected = {int(t) for t in request.POST.getlist("ticket") or request.GET.getlist("ticket") if t.isdigit()}
    return render(request, "evals/add_tickets.html", {"form": form, "tickets": tickets[:RUNS_SHOWN],
                                                      "selected": selected}, status=status)


# --- endpoints, evaluators, online evaluation -------------------------------------------------------


@role_required(OPERATIONS)
def endpoint_list(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(_mine(Endpoint.objects.all(), request), pk=pk) if pk else None
    form = scope_form(EndpointForm(request.POST or None, instance=instance), request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = services.save_endpoint(form.save(commit=False), api_key=form.cleaned_data["api_key"],
                                                  by=request.user)
            except EvalsError as exc:
                add_service_error(form, str(exc))
            else:
                messages.success(request, f"Endpoint {endpoint.name} saved.")
                return redirect("evals:endpoint_list")
        status = 400
    endpoints = _mine(Endpoint.objects.select_related("agent"), request).order_by("name")
    return render(request, "evals/endpoints.html", {"endpoints": endpoints, "form": form, "editing": instance},
                  status=status)


@role_required(OPERATIONS)
def evaluator_list(request: HttpRequest) -> HttpResponse:
    form = scope_form(EvaluatorForm(request.POST or None), request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            evaluator = form.save(commit=False)
            evaluator.config = form.config()
            try:
                services.save_evaluator(evaluator, by=request.user)
            except EvalsError as exc:
                add_service_error(form, str(exc))
            else:
                messages.success(request, f"Evaluator {evaluator.name} saved.")
                return redirect("evals:evaluator_list")
        status = 400
    evaluators = Evaluator.objects.select_related("judge_endpoint").order_by("name")
    return render(request, "evals/evaluators.html", {"evaluators": evaluators, "form": form}, status=status)


@role_required(OPERATIONS)
def online_list(request: HttpRequest) -> HttpResponse:
    form = scope_form(OnlineEvaluationForm(request.POST or None), request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.save_online_evaluation(form.save(commit=False), by=request.user)
            except EvalsError as exc:
                add_service_error(form, str(exc))
            else:
                online.forget_active()
                messages.success(request, "Online evaluation saved: sampled runs will be scored as they arrive.")
                return redirect("evals:online_list")
        status = 400
    rows = scope_rows(OnlineEvaluation.objects.select_related("agent", "evaluator"), request.user).order_by(
        "agent__name", "evaluator__name")
    return render(request, "evals/online.html", {"rows": rows, "form": form}, status=status)


@role_required(OPERATIONS)
@require_POST
def online_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(scope_rows(OnlineEvaluation.objects.all(), request.user), pk=pk)
    OnlineEvaluation.objects.filter(pk=pk).update(enabled=not row.enabled)
    online.forget_active()
    messages.success(request, f"Online evaluation {'paused' if row.enabled else 'resumed'}.")
    return redirect("evals:online_list")
