"""Experiment pages: list, start, detail with an htmx progress bar, cancel, compare two."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from agentops.permissions import OPERATIONS, role_required
from agentops.scoping import scope_form, scope_rows

from . import queries, runner, tasks
from .forms import ExperimentForm, add_service_error
from .models import Experiment, ItemStatus
from .services import EvalsError


@role_required(OPERATIONS)
def experiment_list(request: HttpRequest) -> HttpResponse:
    initial = {k: request.GET[k] for k in ("dataset", "prompt_version", "endpoint") if request.GET.get(k, "").isdigit()}
    form = scope_form(ExperimentForm(request.POST or None, initial=initial), request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                experiment = runner.start_experiment(
                    name=data["name"], dataset=data["dataset"], endpoint=data["endpoint"],
                    evaluators=list(data["evaluators"]), prompt_version=data["prompt_version"],
                    concurrency=data["concurrency"], max_attempts=data["max_attempts"], by=request.user)
            except EvalsError as exc:
                add_service_error(form, str(exc))
            else:
                tasks.enqueue_experiment(experiment)  # committed already: views run in autocommit
                messages.success(request, f"Experiment started on {experiment.case_count} case(s).")
                return redirect(experiment)
        status = 400
    return render(request, "evals/experiment_list.html",
                  {"experiments": _mine(queries.experiments(), request)[:100], "form": form}, status=status)


def _mine(queryset, request: HttpRequest):
    """Experiments on an agent of a scoped user's departments, and those on no agent."""
    return scope_rows(queryset, request.user, keep_null="agent")


def _detail_context(experiment: Experiment, status_filter: str, request: HttpRequest) -> dict:
    return {"experiment": experiment, "progress": queries.progress(experiment),
            "summary": queries.summary(experiment), "items": queries.items(experiment, status_filter),
            "status_filter": status_filter, "statuses": ItemStatus.choices,
            "others": _mine(queries.experiments(dataset=experiment.dataset), request).exclude(pk=experiment.pk)
            .filter(status="completed")[:20]}


@role_required(OPERATIONS)
@require_GET
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(_mine(Experiment.objects.select_related("dataset", "prompt_version__agent", "endpoint",
                                                                           "agent"), request), pk=pk)
    return render(request, "evals/experiment_detail.html",
                  _detail_context(experiment, request.GET.get("status", ""), request))


@role_required(OPERATIONS)
@require_GET
def experiment_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar (htmx polls it every second while the experiment runs). When it has just
    finished, the page reloads once to show the results."""
    experiment = get_object_or_404(_mine(Experiment.objects.all(), request), pk=pk)
    response = render(request, "evals/experiment_detail.html#progress",
                      {"experiment": experiment, "progress": queries.progress(experiment)})
    if request.htmx and not experiment.is_running:
        response["HX-Refresh"] = "true"
    return response


@role_required(OPERATIONS)
@require_POST
def experiment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(_mine(Experiment.objects.all(), request), pk=pk)
    if runner.cancel_experiment(experiment):
        messages.success(request, "Experiment cancelled: cases already answered keep their results.")
    else:
        messages.info(request, "The experiment had already finished.")
    return redirect(experiment)


@role_required(OPERATIONS)
@require_GET
def experiment_compare(request: HttpRequest) -> HttpResponse:
    ids = [request.GET.get("a", ""), request.GET.get("b", "")]
    if not all(i.isdigit() for i in ids):
        return render(request, "evals/compare.html", {"error": "Choose two experiments to compare (?a=…&b=…)."},
                      status=400)
    found = {e.pk: e for e in _mine(Experiment.objects.select_related("dataset", "prompt_version", "agent"), request)
             .filter(pk__in=[int(i) for i in ids])}
    a, b = found.get(int(ids[0])), found.get(int(ids[1]))
    if a is None or b is None:
        return render(request, "evals/compare.html", {"error": "One of the experiments does not exist."}, status=404)
    if a.dataset_id != b.dataset_id:
        return render(request, "evals/compare.html",
                      {"error": "These experiments ran on different datasets; compare runs on the same dataset."},
                      status=400)
    return render(request, "evals/compare.html", {"result": queries.compare(a, b), "a": a, "b": b})
