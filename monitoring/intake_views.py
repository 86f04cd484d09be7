"""Intake endpoints (OTLP/HTTP, native JSON API, OpenAPI document) and the dead-letter page.

Machine endpoints authenticate with ``Authorization: Bearer <key>`` (no session, no CSRF) and answer
only after the raw body is committed to the inbox. Order of checks: method, key, back-pressure,
content type, size, decompression, decoding; each failure has its own status and a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agentops.models import ApiKey, ApiKeyRefused
from agentops.permissions import OPERATIONS, role_required

from . import native, otlp, services
from .models import InboxBatch, Run
from .normalize import screen_spans
from .openapi import openapi_document

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
GRPC_INVALID_ARGUMENT, GRPC_UNAUTHENTICATED, GRPC_RESOURCE_EXHAUSTED, GRPC_UNAVAILABLE = 3, 16, 8, 14


class IntakeError(Exception):
    """A request the intake refuses: HTTP status, a gRPC-style code for OTLP bodies, a message."""

    def __init__(self, status: int, message: str, grpc_code: int = GRPC_INVALID_ARGUMENT, retry_after: bool = False):
        super().__init__(message)
        self.status, self.message, self.grpc_code, self.retry_after = status, message, grpc_code, retry_after


# ---------------------------------------------------------------------------------------------
# Shared request checks
# ---------------------------------------------------------------------------------------------


def authenticate(request: HttpRequest) -> ApiKey:
    try:
        return ApiKey.from_authorization(request.headers.get("Authorization", ""))
    except ApiKeyRefused as exc:
        raise IntakeError(401, str(exc), GRPC_UNAUTHENTICATED) from exc


def check_capacity() -> None:
    if services.inbox_is_full():
        raise IntakeError(
            429, "intake is busy: too many unprocessed batches, retry later", GRPC_RESOURCE_EXHAUSTED, retry_after=True
        )


def read_body(request: HttpRequest) -> bytes:
    """The decompressed body, within both size limits."""
    limit = settings.INTAKE_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise IntakeError(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise IntakeError(413, f"body exceeds the {limit}-byte limit") from exc
    if len(body) > limit:
        raise IntakeError(413, f"body exceeds the {limit}-byte limit")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > settings.INTAKE_MAX_DECOMPRESSED_BYTES:
            raise IntakeError(413, f"body exceeds the {settings.INTAKE_MAX_DECOMPRESSED_BYTES}-byte limit")
        return body
    if encoding != "gzip":
        raise IntakeError(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    try:
        return otlp.gunzip_capped(body, settings.INTAKE_MAX_DECOMPRESSED_BYTES)
    except otlp.PayloadTooLarge as exc:
        raise IntakeError(413, str(exc)) from exc
    except otlp.PayloadError as exc:
        raise IntakeError(400, str(exc)) from exc


def as_sent(request: HttpRequest, payload: bytes) -> tuple[bytes, bool]:
    """What the inbox stores of a body read by ``read_body``: a gzip body as sent (smaller, and
    Postgres need not compress it again), else the body itself. Returns (bytes, compressed)."""
    if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
        return request.body, True
    return payload, False


def media_type(request: HttpRequest) -> str:
    return request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()


def machine_endpoint(error_response: Callable[[HttpRequest, IntakeError], HttpResponse]) -> Callable:
    """Turn IntakeError and an unavailable database into their responses, with Retry-After when due."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except IntakeError as exc:
                error = exc
            except DatabaseError:
                logger.exception("intake: database unavailable")
                error = IntakeError(503, "storage unavailable, retry later", GRPC_UNAVAILABLE, retry_after=True)
            response = error_response(request, error)
            if error.retry_after:
                response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response

        return csrf_exempt(wrapped)

    return decorator


# ---------------------------------------------------------------------------------------------
# OTLP/HTTP
# ---------------------------------------------------------------------------------------------


def _otlp_error(request: HttpRequest, exc: IntakeError) -> HttpResponse:
    content_type = media_type(request)
    if content_type in (otlp.PROTOBUF, otlp.JSON):
        body = otlp.status_body(content_type, exc.grpc_code, exc.message)
        return HttpResponse(body, status=exc.status, content_type=content_type)
    return HttpResponse(exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8")


@machine_endpoint(_otlp_error)
def otlp_traces(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        raise IntakeError(405, "use POST")
    key = authenticate(request)
    content_type = media_type(request)
    if content_type not in (otlp.PROTOBUF, otlp.JSON):
        raise IntakeError(415, f"unsupported Content-Type {content_type!r}: use {otlp.PROTOBUF} or {otlp.JSON}")
    check_capacity()
    payload = read_body(request)
    allowed = services.restricted_agent(key)
    # Only the accept/reject decision is made here; the worker maps the spans.
    try:
        if content_type == otlp.PROTOBUF and allowed is None:  # the common case, straight off the protobuf
            count, screened = otlp.screen_protobuf(payload, now=timezone.now())
        else:
            spans = otlp.decode_for_screening(payload, content_type, agent_attributes=allowed is not None)
            count, screened = len(spans), screen_spans(spans, now=timezone.now(), allowed_agent=allowed)
    except otlp.PayloadError as exc:
        raise IntakeError(400, str(exc)) from exc
    accepted = count - screened.rejected
    if accepted:
        kind = InboxBatch.Kind.OTLP_JSON if content_type == otlp.JSON else InboxBatch.Kind.OTLP_PROTOBUF
        stored, compressed = as_sent(request, payload)
        services.accept_batch(kind, stored, key, accepted, compressed=compressed)
    body = otlp.export_response(content_type, screened.rejected, screened.message())
    return HttpResponse(body, status=200, content_type=content_type)


# ---------------------------------------------------------------------------------------------
# Native JSON API
# ---------------------------------------------------------------------------------------------


def _json_error(request: HttpRequest, exc: IntakeError) -> HttpResponse:
    return JsonResponse({"error": exc.message}, status=exc.status)


def _json_body(request: HttpRequest) -> bytes:
    if media_type(request) != "application/json":
        raise IntakeError(415, "Content-Type must be application/json")
    return read_body(request)


@machine_endpoint(_json_error)
def api_runs(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        raise IntakeError(405, "use POST")
    key = authenticate(request)
    payload = _json_body(request)
    check_capacity()
    try:
        decoded = native.decode_runs(payload)
    except native.InvalidDocument as exc:
        raise IntakeError(400, str(exc)) from exc
    screened = screen_spans(decoded.spans, now=timezone.now(), allowed_agent=services.restricted_agent(key))
    accepted = len(decoded.spans) - screened.rejected
    if not accepted and (decoded.rejected_runs or screened.rejected):
        errors = decoded.errors + screened.errors
        raise IntakeError(400, "no run could be accepted: " + "; ".join(errors[:10]))
    batch_id = None
    if accepted:
        stored, compressed = as_sent(request, payload)
        batch_id = services.accept_batch(InboxBatch.Kind.NATIVE_RUNS, stored, key, accepted, compressed=compressed).pk
    return JsonResponse({
        "batch_id": batch_id,
        "accepted_runs": decoded.accepted_runs,
        "rejected_runs": decoded.rejected_runs,
        "rejected_steps": screened.rejected,
        "trace_ids": decoded.trace_ids,
        "errors": decoded.errors + screened.errors,
    }, status=202)


def _feedback_fields(payload: bytes) -> dict:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeError(400, f"body is not valid JSON: {exc}") from exc
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
        result = services.record_feedback(trace_id, api_key=key, **fields)
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


@require_GET
def api_openapi(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 2})


# ---------------------------------------------------------------------------------------------
# Dead letters (Operations)
# ---------------------------------------------------------------------------------------------


@role_required(OPERATIONS)
@require_GET
def dead_letters(request: HttpRequest) -> HttpResponse:
    template = "monitoring/dead_letters.html#list" if request.htmx else "monitoring/dead_letters.html"
    return render(request, template, {"dead": services.dead_letters(request.GET.get("page", 1))})


def _after_replay(request: HttpRequest) -> HttpResponse:
    """Back to the page the replay was made from (the list view clamps a page gone past the end)."""
    page = request.POST.get("page", "1")
    if request.htmx:
        return render(request, "monitoring/dead_letters.html#list", {"dead": services.dead_letters(page)})
    return redirect(f"{reverse('monitoring:dead_letters')}?{urlencode({'page': page})}")


@role_required(OPERATIONS)
@require_POST
def replay_dead_letter(request: HttpRequest, batch_id: int) -> HttpResponse:
    if services.replay_batch(batch_id):
        messages.success(request, f"Batch {batch_id} was queued for processing again.")
    else:
        messages.warning(request, f"Batch {batch_id} is not in the dead-letter list (already replayed?).")
    return _after_replay(request)


@role_required(OPERATIONS)
@require_POST
def replay_all_dead_letters(request: HttpRequest) -> HttpResponse:
    count = services.replay_all_dead()
    if count:
        messages.success(request, f"{count} batch{'es were' if count != 1 else ' was'} queued for processing again.")
    else:
        messages.info(request, "There were no dead batches to replay.")
    return _after_replay(request)
