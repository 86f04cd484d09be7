"""Tickets of multi-agent traces belong to the agent invocation that raised the escalation: that
sub-agent, with its own prompt version, through the real ingest and announcement outbox, whatever
order the trace's spans arrive in."""

from __future__ import annotations

import io
import itertools
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from handoffs import queries
from handoffs.models import EventKind, Ticket
from monitoring import timerange
from monitoring.ingest import outbox
from monitoring.ingest.write import write_records
from monitoring.intake.normalize import EventInput, normalize_spans
from monitoring.models import Run
from monitoring.rollups import queries as rollup_queries
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


def test_queue_metrics_count_the_raising_agents_own_invocations_on_its_own_prompt_version(registry):
    """No line reads "Refund Agent · prompt 3 · 108 tickets · 0 runs": tickets, escalations and runs
    are the refund agent's own invocations on its own version (2), also when it only ever runs as a
    sub-agent; its escalation rate is the overview's."""
    now = timezone.now()
    for minutes in (9, 8, 7):
        ingest(refund_handoff_trace(now - timedelta(minutes=minutes)).values())
    calm = refund_handoff_trace(now - timedelta(minutes=6))
    calm["tool"].events.clear()  # the fourth time the refund agent settles the case itself
    ingest(calm.values())
    metrics = queries.queue_metrics(None, now - timedelta(hours=24), now + timedelta(seconds=1))
    [by_prompt] = metrics.by_prompt
    assert (by_prompt["agent__name"], by_prompt["prompt_version"], by_prompt["tickets"]) == ("Refund Agent", "2", 3)
    assert (by_prompt["runs"], by_prompt["escalated"], by_prompt["ticketed"]) == (4, 3, 3)
    [by_agent] = metrics.by_agent
    assert (by_agent["agent__name"], by_agent["runs"], by_agent["rate"]) == ("Refund Agent", 4, 0.75)
    overview, _ = rollup_queries.summaries(timerange.parse_range({"range": "24h"}, now=now), [registry["refund"].pk],
                                           now=now)
    assert overview[registry["refund"].pk].escalation_rate == pytest.approx(by_agent["escalation_rate"] * 100)
    fleet, _ = rollup_queries.summaries(timerange.parse_range({"range": "24h"}, now=now), None, now=now)
    assert (fleet[None].runs, fleet[None].escalations) == (4, 3)  # the fleet counts tasks (traces)


def test_tickets_stored_before_they_named_an_invocation_are_attributed_by_the_command(registry):
    spans = refund_handoff_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest(spans.values())
    orchestrator = registry["orchestrator"]
    # As a ticket of that trace was stored before: on the trace's root agent and version, no invocation.
    Ticket.objects.update(agent=orchestrator, prompt_version="3", invocation_span_id="")
    out = io.StringIO()
    call_command("attribute_tickets", "--chunk", "1", stdout=out)
    ticket = Ticket.objects.get()
    assert (ticket.agent, ticket.prompt_version, ticket.invocation_span_id) == (
        registry["refund"], "2", spans["refund"].span_id)
    assert ticket.context["invocation"]["agent"] == "Refund Agent"
    assert "done: 1 tickets attributed" in out.getvalue()
    call_command("attribute_tickets", stdout=io.StringIO())  # again: nothing left to do
    assert Ticket.objects.get().version == ticket.version


def test_the_command_refuses_a_bad_chunk():
    with pytest.raises(CommandError):
        call_command("attribute_tickets", "--chunk", "0")


def failed_refund_trace(start: datetime) -> dict[str, object]:
    """The orchestrator's case where the refund agent's tool call fails (no escalation): the error
    propagates up, so the root span fails too."""
    spans = refund_handoff_trace(start)
    spans["tool"].events.clear()
    spans["tool"].status_code, spans["tool"].status_message = 2, "payment gateway timeout"
    spans["tool"].attributes["error.type"] = "GatewayTimeout"
    spans["refund"].status_code = spans["root"].status_code = 2
    return spans


@pytest.fixture
def failure_queues(registry):
    """A queue that opens a ticket for every failed run of the refund agent, and one for the orchestrator's."""
    refunds = make_queue("Refund failures", agents=[registry["refund"]], position=1, open_on_run_failure=True)
    tasks = make_queue("Task failures", agents=[registry["orchestrator"]], position=2, open_on_run_failure=True)
    return {"refunds": refunds, "tasks": tasks}


def test_a_failed_runs_rule_ticket_belongs_to_the_sub_agent_whose_step_failed(registry, failure_queues,
                                                                            reviewer_client):
    spans = failed_refund_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest(spans.values())
    ticket = Ticket.objects.select_related("agent", "queue").get()
    assert (ticket.agent, ticket.prompt_version, ticket.invocation_span_id) == (
        registry["refund"], "2", spans["refund"].span_id)
    assert ticket.queue == failure_queues["refunds"] and ticket.source == "run_failed"
    assert Run.objects.get().agent == registry["orchestrator"]
    page = reviewer_client.get(reverse("handoffs:ticket", args=[ticket.pk])).content.decode()
    assert "Refund Agent · prompt v2" in page


def test_a_failed_run_whose_sub_agent_no_queue_takes_goes_to_the_queue_of_the_trace_root(registry):
    tasks = make_queue("Task failures", agents=[registry["orchestrator"]], position=2, open_on_run_failure=True)
    ingest(failed_refund_trace(datetime.now(UTC) - timedelta(minutes=3)).values())
    ticket = Ticket.objects.select_related("agent").get()
    assert ticket.queue == tasks and ticket.agent == registry["refund"]


def test_a_rule_ticket_opened_before_the_failing_sub_agents_spans_arrived_is_attributed_and_moved(
        registry, failure_queues):
    spans = failed_refund_trace(datetime.now(UTC) - timedelta(minutes=3))
    ingest([spans["root"]])  # only the failed root: the orchestrator's failure, for now
    early = Ticket.objects.select_related("agent").get()
    assert (early.agent, early.queue) == (registry["orchestrator"], failure_queues["tasks"])
    ingest([spans["refund"], spans["chat"], spans["tool"]])
    ticket = Ticket.objects.select_related("agent").get()
    assert (ticket.agent, ticket.prompt_version, ticket.invocation_span_id) == (
        registry["refund"], "2", spans["refund"].span_id)
    assert ticket.queue == failure_queues["refunds"]
    note = ticket.events.get(kind=EventKind.NOTE)
    assert note.note.startswith("Failed in Refund Agent · prompt v2")
    assert (note.data["from_queue"], note.data["to_queue"]) == ("Task failures", "Refund failures")
