"""Handoff pages: roles, partials, versioned actions, form errors, query budgets."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from handoffs import services
from handoffs.extensions import open_claims_badge
from handoffs.models import EventKind, Outcome, Queue, RootCause, Ticket, TicketStatus
from tests.handoffs.factories import (
    make_escalation,
    make_queue,
    make_root_cause,
    make_run,
    make_step,
    make_ticket,
    record_escalations,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    return make_queue("Support", is_default=True)


@pytest.fixture
def ticket(queue):
    return make_ticket(queue)


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _action(client, ticket, action, htmx=False, **data):
    payload = {f"{action}-{k}": v for k, v in {"version": ticket.version, **data}.items()}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("handoffs:ticket_action", args=[ticket.pk, action]), payload, headers=headers)


@pytest.mark.parametrize("name,args", [
    ("handoffs:queue_list", []), ("handoffs:my_tickets", []), ("handoffs:metrics", []), ("handoffs:settings", []),
])
def test_finance_gets_403_on_handoff_pages(finance_client, name, args):
    assert finance_client.get(reverse(name, args=args)).status_code == 403


def test_finance_cannot_see_a_ticket(finance_client, ticket):
    response = finance_client.get(ticket.get_absolute_url())
    assert response.status_code == 403
    assert ticket.summary.encode() not in response.content


def test_reviewer_cannot_open_metrics(reviewer_client):
    assert reviewer_client.get(reverse("handoffs:metrics")).status_code == 403


def test_operations_cannot_claim(ops_client, ticket):
    assert _action(ops_client, ticket, "claim").status_code == 403


def test_queue_list_shows_depth(reviewer_client, ticket):
    response = reviewer_client.get(reverse("handoffs:queue_list"))
    assert response.status_code == 200
    assert response.context["queues"][0].open_count == 1


def test_queue_list_empty_state(reviewer_client):
    assert b"No queues yet" in reviewer_client.get(reverse("handoffs:queue_list")).content


def test_queue_page_htmx_returns_rows_partial_only(reviewer_client, ticket, queue):
    response = reviewer_client.get(queue.get_absolute_url(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b'id="ticket-rows"' in response.content and b"<html" not in response.content
    assert f"ticket-row-{ticket.pk}".encode() in response.content


def test_queue_page_shows_claimed_ticket_as_taken(reviewer_client, reviewer2, ticket, queue):
    services.claim_ticket(ticket.pk, reviewer2, ticket.version)
    content = reviewer_client.get(queue.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert "Claimed by Ravi" in content


def test_queue_page_filters_by_reason(reviewer_client, queue):
    make_ticket(queue, reason="password reset")
    make_ticket(queue, reason="refund over limit")
    response = reviewer_client.get(queue.get_absolute_url(), {"reason": "password"})
    assert [t.reason for t in response.context["tickets"]] == ["password reset"]


def test_queue_page_bad_filter_is_400_with_message(reviewer_client, queue):
    response = reviewer_client.get(queue.get_absolute_url(), {"priority": "9"})
    assert response.status_code == 400
    assert b"not valid" in response.content


def test_queue_page_query_budget(reviewer_client, queue, django_assert_max_num_queries):
    for _ in range(5):
        make_ticket(queue)
    with django_assert_max_num_queries(9):
        assert reviewer_client.get(queue.get_absolute_url()).status_code == 200


def test_claim_post_redirects_to_ticket(reviewer_client, reviewer, ticket):
    response = _action(reviewer_client, ticket, "claim")
    assert response.status_code == 302 and response.url == ticket.get_absolute_url()
    assert Ticket.objects.get(pk=ticket.pk).assignee == reviewer


def test_claim_of_taken_ticket_is_409_naming_the_holder(reviewer_client, reviewer2, ticket):
    services.claim_ticket(ticket.pk, reviewer2, ticket.version)
    response = _action(reviewer_client, ticket, "claim", htmx=True)
    assert response.status_code == 409
    assert b"already claimed by Ravi" in response.content
    assert response.context["ticket"].assignee == reviewer2  # the fresh state


def test_stale_note_is_409_and_writes_nothing(reviewer_client, reviewer, ticket):
    services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = _action(reviewer_client, ticket, "note", note="hello", htmx=True)
    assert response.status_code == 409
    assert b"changed since you opened it" in response.content
    assert not Ticket.objects.get(pk=ticket.pk).events.filter(kind=EventKind.NOTE).exists()


def test_htmx_action_returns_ticket_partial(reviewer_client, reviewer, ticket):
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = reviewer_client.post(
        reverse("handoffs:ticket_action", args=[t.pk, "note"]), {"note-version": t.version, "note-note": "called"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b'id="ticket-main"' in response.content and b"<html" not in response.content
    assert b"Note added." in response.content


def test_resolve_without_root_cause_is_400_with_field_error(reviewer_client, reviewer, ticket):
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = _action(reviewer_client, t, "resolve", outcome=Outcome.ACTION_TAKEN, htmx=True)
    assert response.status_code == 400
    assert "root_cause" in response.context["forms"]["resolve"].errors
    assert Ticket.objects.get(pk=t.pk).status == TicketStatus.CLAIMED


def test_resolve_with_outcome_and_root_cause(reviewer_client, reviewer, ticket):
    cause = make_root_cause("Tool failure")
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = _action(reviewer_client, t, "resolve", outcome=Outcome.ACTION_TAKEN, root_cause=cause.pk)
    assert response.status_code == 302
    t.refresh_from_db()
    assert (t.status, t.outcome, t.root_cause) == (TicketStatus.RESOLVED, Outcome.ACTION_TAKEN, cause)


def test_pending_with_past_time_is_400(reviewer_client, reviewer, ticket):
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = _action(reviewer_client, t, "pending", until="2001-01-01T10:00", htmx=True)
    assert response.status_code == 400
    assert b"must be in the future" in response.content


def test_failed_plain_claim_redirects_to_the_ticket_with_the_reason(reviewer_client, reviewer2, ticket):
    """Post/redirect/get: the address bar never keeps an action URL, so reload and back are safe."""
    services.claim_ticket(ticket.pk, reviewer2, ticket.version)
    response = _action(reviewer_client, ticket, "claim")
    assert response.status_code == 302 and response.url == ticket.get_absolute_url()
    page = reviewer_client.get(response.url)
    assert b"already claimed by Ravi" in page.content


def test_plain_form_error_redirects_with_the_field_named(reviewer_client, reviewer, ticket):
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version)
    response = _action(reviewer_client, t, "resolve", outcome=Outcome.CORRECTED_AGENT_ANSWER)
    assert response.status_code == 302
    page = reviewer_client.get(response.url)
    assert b"Please correct the form" in page.content and b"Root cause" in page.content
    assert Ticket.objects.get(pk=t.pk).status == TicketStatus.CLAIMED


def test_opening_an_action_address_goes_to_the_ticket(reviewer_client, ticket):
    response = reviewer_client.get(reverse("handoffs:ticket_action", args=[ticket.pk, "claim"]))
    assert response.status_code == 302 and response.url == ticket.get_absolute_url()


def test_unknown_action_is_404(reviewer_client, ticket):
    assert _action(reviewer_client, ticket, "explode").status_code == 404


def test_missing_ticket_is_404(reviewer_client):
    assert reviewer_client.get(reverse("handoffs:ticket", args=[999999])).status_code == 404


def test_ticket_page_shows_tool_errors_and_session_history(reviewer_client, queue):
    esc = make_escalation(reason="refund over limit")
    esc.run.session_id = "sess-1"
    esc.run.save()
    make_step(esc.run, name="issue_refund", status="error", error_message="limit exceeded for account")
    older = make_escalation(make_run(session_id="sess-1", has_escalation=True), reason="first try")
    record_escalations(older, esc)
    ticket = Ticket.objects.get(escalation=esc)
    content = reviewer_client.get(ticket.get_absolute_url()).content.decode()
    assert "limit exceeded for account" in content
    assert "first try" in content


def test_ticket_page_query_budget(reviewer_client, ticket, django_assert_max_num_queries):
    for i in range(5):
        make_step(ticket.run, name=f"tool_{i}", offset_s=i)
    make_root_cause("Missing knowledge")
    with django_assert_max_num_queries(12):
        assert reviewer_client.get(ticket.get_absolute_url()).status_code == 200


def test_operations_reassigns_to_reviewer(ops_client, reviewer, ticket):
    response = _action(ops_client, ticket, "reassign", to_user=reviewer.pk, note="")
    assert response.status_code == 302
    assert Ticket.objects.get(pk=ticket.pk).assignee == reviewer


def test_claim_next_redirects_to_most_urgent(reviewer_client, queue):
    make_ticket(queue)
    urgent = make_ticket(queue, priority="urgent")
    Ticket.objects.filter(pk=urgent.pk).update(claim_due_at=urgent.created_at)
    response = reviewer_client.post(reverse("handoffs:claim_next", args=[queue.slug]))
    assert response.url == urgent.get_absolute_url()


def test_claim_next_on_empty_queue_says_so(reviewer_client, queue):
    response = reviewer_client.post(reverse("handoffs:claim_next", args=[queue.slug]), follow=True)
    assert b"Nothing to claim" in response.content


def test_my_tickets_lists_held_and_badge_counts_them(reviewer_client, reviewer, queue):
    t = make_ticket(queue)
    services.claim_ticket(t.pk, reviewer, t.version)
    response = reviewer_client.get(reverse("handoffs:my_tickets"))
    assert [x.pk for x in response.context["held"]] == [t.pk]
    assert open_claims_badge(reviewer) == 1


def test_badge_is_hidden_without_claims(reviewer):
    assert open_claims_badge(reviewer) is None


def test_metrics_page_renders_charts(ops_client, reviewer, queue, django_assert_max_num_queries):
    cause = make_root_cause()
    t = make_ticket(queue)
    t = services.claim_ticket(t.pk, reviewer, t.version)
    services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause)
    with django_assert_max_num_queries(15):  # 14 and the user's department scope
        response = ops_client.get(reverse("handoffs:metrics"), {"days": 7})
    assert response.status_code == 200
    assert response.context["m"].totals["resolved"] == 1
    assert b'data-plotly="chart-depth"' in response.content


def test_metrics_bad_period_is_400(ops_client):
    assert ops_client.get(reverse("handoffs:metrics"), {"days": "abc"}).status_code == 400
    response = ops_client.get(reverse("handoffs:metrics"), {"range": "custom", "from": "2026-02-01T00:00",
                                                            "to": "2026-01-01T00:00"})
    assert response.status_code == 400 and "must start before it ends" in response.content.decode()


def test_metrics_take_the_shared_time_range(ops_client, queue):
    make_ticket(queue)
    for params in ({"range": "24h"}, {"range": "90d"}, {"days": "90"}, {"range": "custom", "from": "2026-01-01T00:00"}):
        response = ops_client.get(reverse("handoffs:metrics"), params)
        assert response.status_code == 200, params
        assert 'name="range"' in response.content.decode()
    assert response.context["m"].since.date().isoformat() == "2026-01-01"


def test_metrics_empty_state(ops_client):
    assert b"No handoffs in this period" in ops_client.get(reverse("handoffs:metrics")).content


def test_operations_creates_queue_with_rules(ops_client):
    response = ops_client.post(reverse("handoffs:queue_create"), {
        "name": "IT", "slug": "", "position": 5, "reasons": "Password reset, VPN",
        "reason_priorities": "vpn = 2", "default_priority": 3, "rule_priority": 3, "sla_claim_minutes": 20,
        "sla_resolve_minutes": 120, "business_timezone": "Europe/Berlin", "business_start": "09:00",
        "business_end": "17:00", "business_days": [0, 1, 2, 3, 4], "lease_minutes": 15, "reviewer_capacity": 4,
        "reopen_days": 7, "is_active": "on",
    })
    assert response.status_code == 302
    q = Queue.objects.get(slug="it")
    assert q.reasons == ["password reset", "vpn"] and q.reason_priorities == {"vpn": 2}
    assert q.business_hours is not None


def test_queue_form_rejects_unknown_timezone(ops_client):
    response = ops_client.post(reverse("handoffs:queue_create"), {
        "name": "IT", "position": 5, "default_priority": 3, "rule_priority": 3, "sla_claim_minutes": 20,
        "sla_resolve_minutes": 120, "business_timezone": "Mars/Olympus", "lease_minutes": 15,
        "reviewer_capacity": 4, "reopen_days": 7,
    })
    assert response.status_code == 400
    assert b"Unknown timezone" in response.content


def test_operations_edits_taxonomy(ops_client):
    response = ops_client.post(reverse("handoffs:root_cause_create"), {"name": "Guardrail block", "position": 5,
                                                                       "is_active": "on"})
    assert response.status_code == 302
    assert RootCause.objects.filter(slug="guardrail-block").exists()


def test_holder_is_warned_when_the_lease_is_about_to_expire(reviewer_client, reviewer, ticket):
    from datetime import timedelta

    from django.utils import timezone

    queue = ticket.queue
    queue.lease_minutes = 1
    queue.save()
    services.claim_ticket(ticket.pk, reviewer, ticket.version, now=timezone.now() - timedelta(seconds=10))
    response = reviewer_client.get(ticket.get_absolute_url())
    assert response.context["lease_warning"] is True
    assert re.search(r'id="lease-warning"\s*>', response.content.decode())  # shown, not hidden


def test_operations_sees_reassign_but_no_claim(ops_client, ticket):
    content = ops_client.get(ticket.get_absolute_url()).content.decode()
    assert "Reassign" in content and 'id="claim-btn"' not in content


def test_operations_reroutes_unclaimed_tickets_after_changing_rules(ops_client, queue):
    t = make_ticket(queue, reason="vpn failure")
    it = make_queue("IT", reasons=["vpn failure"], position=1)
    response = ops_client.post(reverse("handoffs:queue_reroute", args=[queue.slug]), follow=True)
    assert b"Routed 1 unclaimed ticket out of Support" in response.content
    assert Ticket.objects.get(pk=t.pk).queue == it


def test_metrics_rate_by_prompt_version(ops_client, queue):
    ticket = make_ticket(queue)
    make_run(ticket.agent, prompt_version=ticket.prompt_version)  # a second run of that prompt, no handoff
    row = ops_client.get(reverse("handoffs:metrics")).context["m"].by_prompt[0]
    assert (row["tickets"], row["runs"], row["rate"]) == (1, 2, 0.5)
