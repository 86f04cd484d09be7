"""End to end through monitoring's real ingest and its announcement outbox: an escalation span event
becomes one ticket, also when the same batch is written twice; a failed run opens a rule ticket once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from handoffs.models import Ticket, TicketSource
from monitoring.ingest import outbox
from monitoring.ingest.write import write_records
from monitoring.intake.normalize import EventInput, normalize_spans
from tests.handoffs.factories import make_queue
from tests.monitoring.otlp_builders import agent_trace, ns

pytestmark = pytest.mark.django_db


def _escalating_trace(start: datetime):
    spans = agent_trace("refund-agent", start=start)
    spans[0].events.append(EventInput(
        name="agentops.escalation", time_unix_nano=ns(start + timedelta(milliseconds=800)),
        attributes={"agentops.escalation.reason": "refund over limit", "agentops.escalation.summary": "EUR 640",
                    "agentops.escalation.priority": "urgent"},
    ))
    return spans


def _ingest(spans) -> None:
    batch = normalize_spans(spans, now=timezone.now())
    with transaction.atomic():
        write_records(batch.records)
    outbox.deliver_due()  # what the delivery task does once the batch committed


def test_escalation_from_telemetry_opens_one_ticket_even_when_replayed():
    make_queue("Support", is_default=True)
    spans = _escalating_trace(datetime.now(UTC) - timedelta(minutes=3))
    _ingest(spans)
    _ingest(spans)
    ticket = Ticket.objects.select_related("agent", "escalation").get()
    assert (ticket.agent.slug, ticket.reason, ticket.priority) == ("refund-agent", "refund over limit", 1)
    assert ticket.session_id == "sess-1" and ticket.prompt_version == "2"


def test_failed_run_from_telemetry_opens_rule_ticket_once():
    make_queue("Support", is_default=True, open_on_run_failure=True)
    spans = agent_trace("refund-agent", start=datetime.now(UTC) - timedelta(minutes=3), error=True)
    _ingest(spans)
    _ingest(spans)
    assert list(Ticket.objects.values_list("source", flat=True)) == [TicketSource.RUN_FAILED]
