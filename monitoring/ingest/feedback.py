"""After-the-fact feedback on a stored run (native API)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction

from agentops.models import ApiKey
from monitoring.ingest import invocations, outbox
from monitoring.ingest.models import Run, Score
from monitoring.ingest.recompute import recompute_runs
from monitoring.intake.services import restricted_agent
from monitoring.rollups import cells as rollups


@dataclass(frozen=True)
class FeedbackResult:
    score: Score
    created: bool


def record_feedback(
    trace_id: str, *, name: str, value: float | None, label: str = "", comment: str = "",
    feedback_id: str = "", api_key: ApiKey | None = None,
) -> FeedbackResult:
    """Store a feedback score on an existing run and refresh its quality. Idempotent on ``feedback_id``
    (or on the content when no id is given). Raises Run.DoesNotExist or PermissionError."""
    dedupe = "feedback:" + (feedback_id or hashlib.sha256(f"{name}|{value}|{label}|{comment}".encode()).hexdigest())
    with transaction.atomic():
        # The latest run of the trace (a trace spread over more than the ingest window has several).
        run = Run.objects.select_for_update().select_related("agent").filter(trace_id=trace_id).order_by("-started_at").first()
        if run is None:
            raise Run.DoesNotExist(f"no stored run for trace {trace_id}")
        allowed = restricted_agent(api_key)
        if allowed is not None and run.agent.slug != allowed:
            raise PermissionError(f"this key may only send feedback for agent {allowed!r}")
        score, created = Score.objects.get_or_create(
            run=run, dedupe_key=dedupe[:200],
            defaults={"name": name, "value": value, "label": label, "comment": comment, "source": Score.Source.FEEDBACK,
                      "occurred_at": run.started_at},  # dropped with its run
        )
        if created:
            # Feedback is on the whole task: it scores the trace's top invocation too.
            left = invocations.refresh_for_runs({run.pk: run.trace_id}, recompute_runs([run]), replace=[run.pk],
                                                failures={run.pk: (run.fingerprint, run.status == "error")})
            rollups.refresh_for_runs([run.pk], previous_invocations=left)
            outbox.announce(run_ids=[run.pk])
    return FeedbackResult(score, created)
