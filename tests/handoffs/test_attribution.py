"""Tickets of multi-agent traces belong to the agent invocation that raised the escalation: that
sub-agent, with its own prompt version, through the real ingest and announcement outbox, whatever
order the trace's spans arrive in."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from handoffs.models import EventKind, Ticket
from monitoring.ingest import outbox
from monitoring.ingest.write import write_records
from monitoring.intake.normalize import EventInput, normalize_spans
from monitoring.models import Run
from tests.factories import make_agent, make_prompt
from tests.handoffs.factories import make_queue
from tests.monitoring.otlp_builders import ns, span_input

pytestmark = pytest.mark.django_db


def refund_handoff_trace(start: datetime) -> dict[str, object]:
    """support-orchestrator (prompt 3) invokes refund-agent (prompt 2); the refund agent's tool span
    (which names no agent: it inherits the refund agent's) raises the escalation."""
    trace_id, root_id, refund_id, tool_id = secrets.token_hex(16), *(secrets.token_hex(8) for _ in range(3))
    at = lambda ms: start + timedelta(milliseconds=ms)  # noqa: E731
    return {
        "root": span_input(trace_id=trace_id, span_id=root_id, name="invoke_agent support-orchestrator",
                           start=at(0), duration_ms=3000, attributes={
                               "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-orchestrator",
                               "agentops.prompt.version": "3", "gen_ai.conversation.id": "sess-7"}),
        "refund": span_input(trace_id=trace_id, span_id=refund_id, parent=root_id, name="invoke_agent refund-agent",
                             start=at(200), duration_ms=1500, attributes={
                                 "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refund-agent",
                                 "agentops.prompt.version": "2"}),
        "chat": span_input(trace_id=trace_id, parent=refund_id, name="chat gpt-4o", start=at(250), duration_ms=300,
                           attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                       "gen_ai.usage.input_tokens": 800, "gen_ai.usage.output_tokens": 150}),
        "tool": span_input(trace_id=trace_id, span_id=tool_id, parent=refund_id, name="execute_tool issue_refund",
                           start=at(600), duration_ms=200, attributes={
                               "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund"},
                           events=[EventInput("agentops.escalation", ns(at(700)), {
                               "agentops.escalation.reason": "refund over limit",
                               "agentops.escalation.summary": "EUR 640", "agentops.escalation.priority": "high"})]),
    }


def ingest(spans) -> None:
    batch = normalize_spans(list(spans), now=timezone.now())
    with transaction.atomic():
        write_records(batch.records)
    outbox.deliver_due()  # what the delivery task does once the batch committed


@pytest.fixture
def registry():
    """The issue's case: the orchestrator is live on prompt v3; the refund agent is live on v2 and
    has an inactive draft v3."""
    orchestrator = make_agent("Support Orchestrator", slug="support-orchestrator")
    refund = make_agent("Refund Agent", slug="refund-agent")
    make_prompt(orchestrator, version=3, is_active=True)
    make_prompt(refund, version=2, is_active=True)
    make_prompt(refund, version=3, is_active=False)
    make_queue("Support", is_default=True)
    return {"orchestrator": orchestrator, "refund": refund}


def test_a_sub_agents_escalation_is_its_own_ticket_with_its_own_prompt_version(registry, reviewer_client):
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest(spans.values())
    ticket = Ticket.objects.select_related("agent").get()
    assert (ticket.agent, ticket.prompt_version) == (registry["refund"], "2")
    assert ticket.invocation_span_id == spans["refund"].span_id
    assert Run.objects.get().agent == registry["orchestrator"]  # the trace stays the orchestrator's task
    page = reviewer_client.get(reverse("handoffs:ticket", args=[ticket.pk])).content.decode()
    assert "Refund Agent · prompt v2" in page
    assert spans["refund"].span_id in page and "prompt v3" not in page


def test_the_context_packet_names_the_raising_invocation_and_the_trace(registry):
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest(spans.values())
    packet = Ticket.objects.get().context
    assert packet["invocation"] == {
        "trace_id": spans["root"].trace_id, "span_id": spans["refund"].span_id,
        "agent_id": registry["refund"].pk, "agent": "Refund Agent", "prompt_version": "2",
    }
    assert packet["run"]["trace_id"] == spans["root"].trace_id


@pytest.mark.parametrize("order", list(itertools.permutations(["root", "refund", "chat", "tool"])))
def test_an_escalation_arriving_before_its_invocation_ends_attributed_to_the_raising_agent(registry, order):
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    for name in order:  # one span per batch, each delivered before the next arrives
        ingest([spans[name]])
    ticket = Ticket.objects.select_related("agent").get()
    assert (ticket.agent, ticket.prompt_version, ticket.invocation_span_id) == (
        registry["refund"], "2", spans["refund"].span_id)
    assert ticket.context["invocation"]["agent"] == "Refund Agent"


def test_a_ticket_opened_before_its_sub_agents_span_arrived_says_how_it_was_attributed(registry):
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest([spans["tool"]])  # the escalation first: its agent and prompt are not known yet
    early = Ticket.objects.select_related("agent").get()
    assert early.agent != registry["refund"] and early.invocation_span_id == spans["tool"].span_id
    ingest([spans["root"], spans["refund"], spans["chat"]])
    ingest([spans["root"]])  # a resent piece changes nothing more
    ticket = Ticket.objects.get()
    assert (ticket.agent, ticket.prompt_version, ticket.version) == (registry["refund"], "2", early.version + 1)
    note = ticket.events.get(kind=EventKind.NOTE)
    assert note.actor is None and note.note.startswith("Raised by Refund Agent · prompt v2")


def test_an_unclaimed_ticket_moves_to_the_queue_of_the_agent_that_turns_out_to_have_raised_it(registry):
    refunds = make_queue("Refunds", agents=[registry["refund"]], position=1)
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest([spans["tool"]])
    assert Ticket.objects.get().queue.slug == "support"
    ingest([spans["root"], spans["refund"], spans["chat"]])
    ticket = Ticket.objects.get()
    assert ticket.queue == refunds
    assert ticket.events.get(kind=EventKind.NOTE).data["to_queue"] == "Refunds"
