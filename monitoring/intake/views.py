"""Telemetry intake endpoints: OTLP/HTTP ``/v1/traces`` and the native ``/api/v1/runs``.

Machine endpoints: Bearer API key, no session, no CSRF; errors are JSON (or OTLP status) with a
message naming the problem."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from agentops.models import ApiKey, ApiKeyRefused
from monitoring.intake import native, otlp
from monitoring.intake import services as intake_services
from monitoring.intake.models import InboxBatch
from monitoring.intake.normalize import screen_spans
from monitoring.intake.openapi import openapi_document

logger = logging.getLogger(__name__)


RETRY_AFTER_SECONDS = 5


GRPC_INVALID_ARGUMENT, GRPC_UNAUTHENTICATED, GRPC_RESOURCE_EXHAUSTED, GRPC_UNAVAILABLE = 3, 16, 8, 14


class IntakeError(Exception):
    """A request the intake refuses: HTTP status, a gRPC-style code for OTLP bodies, a message."""

    def __init__(self, status: int, message: str, grpc_code: int = GRPC_INVALID_ARGUMENT, retry_after: bool = False):
        super().__init__(message)
        self.status, self.message, self.grpc_code, self.retry_after = status, message, grpc_code, retry_after


def authenticate(request: HttpRequest) -> ApiKey:
    try:
        return ApiKey.from_authorization(request.headers.get("Authorization", ""))
    except ApiKeyRefused as exc:
        raise IntakeError(401, str(exc), GRPC_UNAUTHENTICATED) from exc


def check_capacity() -> None:
    if intake_services.inbox_is_full():
        raise IntakeError(
            429, f"intake is busy: {settings.INTAKE_MAX_PENDING_BATCHES} unprocessed batches, the limit "
            "(INTAKE_MAX_PENDING_BATCHES): retry later", GRPC_RESOURCE_EXHAUSTED, retry_after=True
        )


def check_key_quotas(key: ApiKey, span_count: int) -> None:
    try:
        intake_services.check_key_quotas(key, span_count)
    except intake_services.QuotaExceeded as exc:
        raise IntakeError(429, str(exc), GRPC_RESOURCE_EXHAUSTED, retry_after=True) from exc


def decompressed_limit(content_type: str) -> int:
    """JSON costs far more CPU and memory per byte to decode than protobuf: a lower cap."""
    if content_type in (otlp.JSON, "application/json"):
        return min(settings.INTAKE_MAX_JSON_BYTES, settings.INTAKE_MAX_DECOMPRESSED_BYTES)
    return settings.INTAKE_MAX_DECOMPRESSED_BYTES


def read_body(request: HttpRequest, decompressed: int | None = None) -> bytes:
    """The decompressed body, within both size limits (``decompressed``: the cap after gzip)."""
    decompressed = settings.INTAKE_MAX_DECOMPRESSED_BYTES if decompressed is None else decompressed
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
        if len(body) > decompressed:
            raise IntakeError(413, f"body exceeds the {decompressed}-byte limit for this content type")
        return body
    if encoding != "gzip":
        raise IntakeError(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    try:
        return otlp.gunzip_capped(body, decompressed)
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
    payload = read_body(request, decompressed_limit(content_type))
    allowed = intake_services.restricted_agent(key)
    max_spans = settings.INTAKE_MAX_SPANS_PER_REQUEST
    # Only the accept/reject decision is made here; the worker maps the spans.
    try:
        if content_type == otlp.PROTOBUF and allowed is None:  # the common case, straight off the protobuf
            count, screened = otlp.screen_protobuf(payload, now=timezone.now(), max_spans=max_spans)
        else:
            spans = otlp.decode_for_screening(payload, content_type, agent_attributes=allowed is not None,
                                              max_spans=max_spans)
            count, screened = len(spans), screen_spans(spans, now=timezone.now(), allowed_agent=allowed)
    except otlp.PayloadTooLarge as exc:
        raise IntakeError(413, str(exc)) from exc
    except otlp.PayloadError as exc:
        raise IntakeError(400, str(exc)) from exc
    accepted = count - screened.rejected
    if accepted:
        check_key_quotas(key, accepted)
        kind = InboxBatch.Kind.OTLP_JSON if content_type == otlp.JSON else InboxBatch.Kind.OTLP_PROTOBUF
        stored, compressed = as_sent(request, payload)
        intake_services.accept_batch(kind, stored, key, accepted, compressed=compressed)
    body = otlp.export_response(content_type, screened.rejected, screened.message())
    return HttpResponse(body, status=200, content_type=content_type)


def _json_error(request: HttpRequest, exc: IntakeError) -> HttpResponse:
    return JsonResponse({"error": exc.message}, status=exc.status)


def _json_body(request: HttpRequest) -> bytes:
    if media_type(request) != "application/json":
        raise IntakeError(415, "Content-Type must be application/json")
    return read_body(request, decompressed_limit("application/json"))


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
    if len(decoded.spans) > settings.INTAKE_MAX_SPANS_PER_REQUEST:
        raise IntakeError(413, str(otlp.too_many_spans(len(decoded.spans), settings.INTAKE_MAX_SPANS_PER_REQUEST)))
    screened = screen_spans(decoded.spans, now=timezone.now(), allowed_agent=intake_services.restricted_agent(key))
    accepted = len(decoded.spans) - screened.rejected
    if not accepted and (decoded.rejected_runs or screened.rejected):
        errors = decoded.errors + screened.errors
        raise IntakeError(400, "no run could be accepted: " + "; ".join(errors[:10]))
    batch_id = None
    if accepted:
        check_key_quotas(key, accepted)
        stored, compressed = as_sent(request, payload)
        batch_id = intake_services.accept_batch(InboxBatch.Kind.NATIVE_RUNS, stored, key, accepted, compressed=compressed).pk
    return JsonResponse({
        "batch_id": batch_id,
        "accepted_runs": decoded.accepted_runs,
        "rejected_runs": decoded.rejected_runs,
        "rejected_steps": screened.rejected,
        "trace_ids": decoded.trace_ids,
        "errors": decoded.errors + screened.errors,
    }, status=202)


@require_GET
def api_openapi(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 2})
