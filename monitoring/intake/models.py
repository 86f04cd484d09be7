"""The durable inbox: raw telemetry bodies as accepted, until processed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from agentops.models import ApiKey


class InboxBatch(models.Model):
    """One accepted request body, committed before the sender gets its 200/202 (accepted means durable)."""

    class Kind(models.TextChoices):
        OTLP_PROTOBUF = "otlp_protobuf", "OTLP protobuf"
        OTLP_JSON = "otlp_json", "OTLP JSON"
        NATIVE_RUNS = "native_runs", "Native JSON runs"
        NATIVE_FEEDBACK = "native_feedback", "Native JSON feedback"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        DEAD = "dead", "Dead letter"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payload = models.BinaryField()  # the request body: decompressed, or as sent when ``compressed``
    compressed = models.BooleanField(default=False, help_text="payload is the request's gzip body, as sent")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    # The agent the key was restricted to when the batch was accepted: kept even if the key is deleted
    # later, so a pending batch is never processed with more rights than its sender had.
    restricted_to = models.CharField(max_length=120, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    span_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], name="inbox_pending_idx", condition=models.Q(status="pending")),
            models.Index(fields=["status", "received_at"], name="inbox_status_idx"),
            # Per-key pending cap (intake.services.check_key_quotas): a bounded count of one key's pending rows.
            models.Index(fields=["api_key"], name="inbox_pending_key_idx", condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.kind}, {self.status})"
