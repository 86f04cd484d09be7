
"""Escalations and rule-matching runs become tickets exactly once, in the right queue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from handoffs import routing
from handoffs.models import EventKind, Priority, Queue, Ticket, TicketSource
from tests.factories import make_agent
from tests.handoffs.factories import (
    make_escalation,
    make_queue,
    make_run,
    record_escalations,
    record_runs,
)

pytestmark = pytest.mark.django_db


def test_escalation_signal_opens_one_ticket_with_created_event():
    default = make_queue("Support", is_default=True)
    esc = make_escalation()
    record_escalations(esc)
    ticket = Ticket.objects.get(escalation=esc)
    assert ticket.queue == default
    assert ticket.agent_id == esc.agent_id and ticket.run_id == esc.run_id
    assert list(ticket.events.values_list("kind", flat=True)) == [EventKind.CREATED]


def test_processing_the_same_escalations_twice_keeps_one_ticket_each():
    make_queue("Support", is_default=True)
    escs = [make_escalation(), make_escalation()]
    record_escalations(*escs)
    record_escalations(*escs)
    assert Ticket.objects.count() == 2
    assert Ticket.objects.filter(events__kind=EventKind.CREATED).count() == 2


def test_escalation_routed_by_agent_rule():
    make_queue("Support", is_default=True)
    billing_agent = make_agent("Billing bot")
    finance = make_queue("Finance ops", agents=[billing_agent], position=1)
    record_escalations(esc := make_escalation(agent=billing_agent))
    assert Ticket.objects.get(escalation=esc).queue == finance


def test_escalation_routed_by_reason_case_insensitively():
    make_queue("Support", is_default=True)
    it = make_queue("IT", reasons=["password reset"], position=1)
    record_escalations(esc := make_escalation(reason="Password Reset"))
    assert Ticket.objects.get(escalation=esc).queue == it


def test_unmatched_escalation_goes_to_default_queue():
    default = make_queue("Support", is_default=True)
    make_queue("IT", reasons=["password reset"], position=1)
    record_escalations(esc := make_escalation(reason="something else"))
    assert Ticket.objects.get(escalation=esc).queue == default


def test_escalation_without_any_queue_creates_a_default_queue():
    record_escalations(esc := make_escalation())
    assert Ticket.objects.get(escalation=esc).queue.is_default
    assert Queue.objects.count() == 1


def test_priority_is_the_more_urgent_of_sender_and_reason_rule():
    make_queue("Support", is_default=True, reason_priorities={"refund over limit": Priority.HIGH})
    record_escalations(a := make_escalation(priority="urgent"), b := make_escalation(priority="low"))
    assert Ticket.objects.get(escalation=a).priority == Priority.URGENT
    assert Ticket.objects.get(escalation=b).priority == Priority.HIGH


def test_sla_deadlines_start_at_the_handoff():
    make_queue("Support", is_default=True, sla_claim_minutes=10, sla_resolve_minutes=60)
    record_escalations(esc := make_escalation())
    t = Ticket.objects.get(escalation=esc)
    assert t.created_at == esc.occurred_at
    assert t.claim_due_at == esc.occurred_at + timedelta(minutes=10)
    assert t.resolve_due_at == esc.occurred_at + timedelta(minutes=60)


def test_failed_run_opens_rule_ticket_once_when_queue_asks():
    q = make_queue("Support", is_default=True, open_on_run_failure=True)
    run = make_run(status="error", error_type="TimeoutError")
    record_runs(run)
    record_runs(run)
    ticket = Ticket.objects.get(run=run)
    assert (ticket.queue, ticket.source) == (q, TicketSource.RUN_FAILED)
    assert "TimeoutError" in ticket.summary


def test_failed_run_opens_nothing_without_a_rule():
    make_queue("Support", is_default=True)
    record_runs(make_run(status="error"))
    assert not Ticket.objects.exists()


def test_low_quality_run_opens_ticket_below_agent_minimum_only():
    make_queue("Quality", open_on_low_quality=True)
    agent = make_agent(slo_min_quality=Decimal("0.8"))
    low, ok = make_run(agent, quality=0.5), make_run(agent, quality=0.9)
    record_runs(low, ok)
    assert list(Ticket.objects.values_list("run_id", "source")) == [(low.pk, TicketSource.LOW_QUALITY)]


def test_escalated_run_gets_no_second_rule_ticket():
    make_queue("Support", is_default=True, open_on_run_failure=True)
    run = make_run(status="error", has_escalation=True)
    esc = make_escalation(run)
    record_escalations(esc)
    record_runs(run)
    assert Ticket.objects.filter(run=run).count() == 1


def test_a_ticket_opened_concurrently_mid_batch_leaves_one_ticket_per_escalation(monkeypatch):

    make_queue("Support", is_default=True)
    escs = [make_escalation(), make_escalation(), make_escalation()]
    real_routes = routing._routes

    def racing_routes():
        # Another worker opens the second escalation's ticket after our check for existing tickets.
        monkeypatch.setattr(routing, "_routes", real_routes)
        routing.open_tickets_for_escalations([escs[1].pk])
        return real_routes()

    monkeypatch.setattr(routing, "_routes", racing_routes)
    created = routing.open_tickets_for_escalations([e.pk for e in escs])
    assert sorted(t.escalation_id for t in created) == [escs[0].pk, escs[2].pk]
    assert sorted(Ticket.objects.values_list("escalation_id", flat=True)) == sorted(e.pk for e in escs)
    assert Ticket.objects.filter(events__kind=EventKind.CREATED).count() == 3
