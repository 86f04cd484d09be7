"""Feedback on stored runs (native API) and the dead-letter pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agentops.permissions import OPERATIONS, role_required
from agentops.scoping import department_ids, require_unscoped
from monitoring.ingest import feedback, outbox
from monitoring.ingest import queries as dead_letter_queries
from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks as ingest_tasks
from monitoring.ingest.models import Run
from monitoring.intake.jsonbody import JSONBodyError, load_json
from monitoring.intake.models import InboxBatch
from monitoring.intake.views import IntakeError, _json_body, _json_error, authenticate, machine_endpoint


def _feedback_fields(payload: bytes) -> dict:
    try:
        document = load_json(payload)
    except JSONBodyError as exc:
        raise IntakeError(400, str(exc)) from exc
    if not isinstance(document, dict):
        raise IntakeError(400, "expected a JSON object")
    name, value, label = document.get("name"), document.get("value"), document.get("label", "")
    if not isinstance(name, str) or not 0 < len(name) <= 120:
        raise IntakeError(400, '"name" is required (1-120 characters)')
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1):
        raise IntakeError(400, '"value" must be a number from 0 to 1')
    if not isinstance(label, str) or len(label) > 120:
        raise IntakeError(400, '"label" must be a string of at most 120 characters')
    if value is None and not label:
        raise IntakeError(400, 'send a "value" (0-1), a "label", or both')
    comment, feedback_id = document.get("comment", ""), document.get("id", "")
    if not isinstance(comment, str) or not isinstance(feedback_id, str) or len(feedback_id) > 180:
        raise IntakeError(400, '"comment" and "id" must be strings ("id" at most 180 characters)')
    return {"name": name, "value": None if value is None else float(value), "label": label,
            "comment": comment[:4000], "feedback_id": feedback_id}


@machine_endpoint(_json_error)
def api_feedback(request: HttpRequest, trace_id: str) -> HttpResponse:
    if request.method != "POST":
        raise IntakeError(405, "use POST")
    key = authenticate(request)
    fields = _feedback_fields(_json_body(request))
    trace_id = trace_id.lower()
    try:
        result = feedback.record_feedback(trace_id, api_key=key, **fields)
    except Run.DoesNotExist as exc:
        raise IntakeError(404, f"no run with trace id {trace_id} (yet: runs appear once their batch is processed)") from exc
    except PermissionError as exc:
        raise IntakeError(403, str(exc)) from exc
    score = result.score
    return JsonResponse(
        {"id": score.pk, "trace_id": trace_id, "name": score.name, "value": score.value, "label": score.label,
         "created": result.created},
        status=201 if result.created else 200,
    )


@role_required(OPERATIONS)
@require_GET
def dead_letters(request: HttpRequest) -> HttpResponse:
    template = "monitoring/dead_letters.html#list" if request.htmx else "monitoring/dead_letters.html"
    scoped = department_ids(request.user) is not None  # announcements name any department's agents
    return render(request, template, {"dead": dead_letter_queries.dead_letters(request.GET.get("page", 1), request.user),
                                      "announcements": None if scoped else dead_letter_queries.failed_announcements()})


def _after_replay(request: HttpRequest) -> HttpResponse:
    """Back to the page the replay was made from (the list view clamps a page gone past the end)."""
    page = request.POST.get("page", "1")
    if request.htmx:
        return render(request, "monitoring/dead_letters.html#list",
                      {"dead": dead_letter_queries.dead_letters(page, request.user)})
    return redirect(f"{reverse('monitoring:dead_letters')}?{urlencode({'page': page})}")


@role_required(OPERATIONS)
@require_POST
def replay_dead_letter(request: HttpRequest, batch_id: int) -> HttpResponse:
    if not dead_letter_queries.scoped_batches(InboxBatch.objects.filter(pk=batch_id), request.user).exists():
        raise Http404("There is nothing at this address.")
    if replayed := ingest_services.replay_batch(batch_id):
        ingest_tasks.enqueue_after_commit(replayed)
        messages.success(request, f"Batch {batch_id} was queued for processing again.")
    else:
        messages.warning(request, f"Batch {batch_id} is not in the dead-letter list (already replayed?).")
    return _after_replay(request)


@role_required(OPERATIONS)
@require_POST
def replay_all_dead_letters(request: HttpRequest) -> HttpResponse:
    if department_ids(request.user) is None:
        replayed = ingest_services.replay_all_dead()
    else:  # only the batches the user may see
        ids = dead_letter_queries.scoped_batches(InboxBatch.objects.filter(status=InboxBatch.Status.DEAD), request.user)
        replayed = [pk for batch_id in ids.values_list("pk", flat=True) for pk in ingest_services.replay_batch(batch_id)]
    ingest_tasks.enqueue_after_commit(replayed)
    count = len(replayed)
    if count:
        messages.success(request, f"{count} batch{'es were' if count != 1 else ' was'} queued for processing again.")
    else:
        messages.info(request, "There were no dead batches to replay.")
    return _after_replay(request)


@role_required(OPERATIONS)
@require_POST
def retry_announcements(request: HttpRequest) -> HttpResponse:
    require_unscoped(request.user)
    if count := outbox.retry_failed():
        messages.success(request, f"{count} announcement{'s' if count != 1 else ''} will be delivered again.")
    else:
        messages.info(request, "There were no failed announcements to retry.")
    return redirect("monitoring:dead_letters")
