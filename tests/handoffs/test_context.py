"""Tickets keep what the agent knew after telemetry retention drops the run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from handoffs.models import Ticket
from monitoring.models import Run
from monitoring.storage import partitions, services
from tests.handoffs.factories import make_escalation, make_queue, make_run, make_step, record_escalations

pytestmark = pytest.mark.django_db

RUN_AT = datetime(2027, 1, 5, 9, 30, tzinfo=UTC)
NOW = datetime(2027, 3, 10, 12, tzinfo=UTC)  # 64 days later: past the 30-day retention


@pytest.fixture
def old_ticket() -> Ticket:
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.create_day(cursor, table, date(2027, 1, 5))
    make_queue("Default", is_default=True)
    run = make_run(started_at=RUN_AT, status="error", input_preview="Where is my refund?",
                   output_preview="Let me hand you to a colleague.")
    make_step(run, kind="tool", name="lookup_order", status="error", error_message="order service timed out")
    make_step(run, kind="llm", name="chat", output="I could not find your order.", offset_s=1)
    escalation = make_escalation(run)
    record_escalations(escalation)
    return Ticket.objects.get(escalation=escalation)


def test_a_new_ticket_snapshots_its_context_packet(old_ticket):
    packet = old_ticket.context
    assert packet["run"]["trace_id"] == old_ticket.run.trace_id and packet["run"]["status"] == "error"
    assert [s["name"] for s in packet["steps"]] == ["lookup_order", "chat"]
    assert packet["steps"][0]["error_message"] == "order service timed out"


def test_after_retention_the_ticket_page_shows_the_snapshot(old_ticket, reviewer_client):
    trace_id = old_ticket.run.trace_id
    with time_machine.travel(NOW, tick=False):
        services.drop_expired()
    old_ticket.refresh_from_db()
    assert not Run.objects.filter(trace_id=trace_id).exists()
    assert old_ticket.run_id is None and old_ticket.escalation_id is None  # cleared, as SET_NULL would
    html = reviewer_client.get(reverse("handoffs:ticket", args=[old_ticket.pk])).content.decode()
    assert "Where is my refund?" in html and "I could not find your order." in html
    assert "lookup_order" in html and "order service timed out" in html
    assert trace_id in html and "past telemetry retention" in html


def test_retention_snapshots_steps_stored_after_the_ticket_opened(old_ticket):
    make_step(old_ticket.run, kind="tool", name="refund_policy", offset_s=2)  # a late span
    with time_machine.travel(NOW, tick=False):
        services.drop_expired()
    old_ticket.refresh_from_db()
    assert [s["name"] for s in old_ticket.context["steps"]] == ["lookup_order", "chat", "refund_policy"]


def test_a_ticket_within_retention_reads_its_stored_run(reviewer_client):
    make_queue("Default", is_default=True)
    run = make_run(started_at=datetime.now(UTC) - timedelta(minutes=5))
    make_step(run, name="lookup_order")
    escalation = make_escalation(run)
    record_escalations(escalation)
    ticket = Ticket.objects.get(escalation=escalation)
    html = reviewer_client.get(reverse("handoffs:ticket", args=[ticket.pk])).content.decode()
    assert "past telemetry retention" not in html and "lookup_order" in html
