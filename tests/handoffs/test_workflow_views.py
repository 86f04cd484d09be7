"""Queue page counts, paging and light refresh; search; bulk actions; saved replies; resolve and
take next."""

from __future__ import annotations

import pytest
from django.urls import reverse

from handoffs import queries, services
from handoffs.models import Outcome, SavedReply, Ticket, TicketStatus
from tests.handoffs.factories import make_queue, make_root_cause, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    return make_queue("Support", is_default=True)


def test_queue_page_counts_and_pages(reviewer_client, queue):
    for _ in range(queries.QUEUE_PAGE_SIZE + 2):
        make_ticket(queue)
    page1 = reviewer_client.get(queue.get_absolute_url())
    assert b"52</strong> tickets" in page1.content and b"showing 1\xe2\x80\x9350" in page1.content
    assert b"Page 1 of 2" in page1.content
    page2 = reviewer_client.get(queue.get_absolute_url(), {"page": "2"})
    assert len(page2.context["tickets"]) == 2


def test_refresh_answers_204_when_nothing_changed_and_the_rows_when_something_did(reviewer_client, reviewer, queue):
    t = make_ticket(queue)
    state = reviewer_client.get(queue.get_absolute_url()).context["page"].state
    unchanged = reviewer_client.get(queue.get_absolute_url(), {"state": state}, headers={"HX-Request": "true"})
    assert unchanged.status_code == 204 and unchanged.content == b""
    services.claim_ticket(t.pk, reviewer, t.version)
    changed = reviewer_client.get(queue.get_absolute_url(), {"state": state}, headers={"HX-Request": "true"})
    assert changed.status_code == 200 and b'id="ticket-rows"' in changed.content and b"<html" not in changed.content


def test_unchanged_refresh_is_one_cheap_query(reviewer_client, queue, django_assert_max_num_queries):
    make_ticket(queue)
    state = reviewer_client.get(queue.get_absolute_url()).context["page"].state
    with django_assert_max_num_queries(7):  # session, user, roles, department scope, queue, agent choices, state
        reviewer_client.get(queue.get_absolute_url(), {"state": state}, headers={"HX-Request": "true"})


def test_search_page(reviewer_client, queue):
    t = make_ticket(queue, reason="parcel lost")
    response = reviewer_client.get(reverse("handoffs:search"), {"q": "parcel"})
    assert response.status_code == 200 and f"#{t.pk}".encode() in response.content
    assert reviewer_client.get(reverse("handoffs:search")).status_code == 200
    assert b"No tickets found" in reviewer_client.get(reverse("handoffs:search"), {"q": "zzz"}).content


def test_bulk_action_redirects_back_with_done_and_skipped(ops_client, reviewer, queue):
    a, b = make_ticket(queue), make_ticket(queue)
    services.claim_ticket(b.pk, reviewer, b.version)
    response = ops_client.post(reverse("handoffs:queue_bulk", args=[queue.slug]), {
        "tickets": [f"{a.pk}:{a.version}", f"{b.pk}:{b.version}"], "action": "priority", "priority": "1",
        "query": "status=active",
    }, follow=True)
    assert response.redirect_chain[-1][0] == f"{queue.get_absolute_url()}?status=active"
    text = response.content.decode()
    assert "1 ticket re-prioritised." in text and f"#{b.pk} skipped" in text
    assert Ticket.objects.get(pk=a.pk).priority == 1 and Ticket.objects.get(pk=b.pk).priority == 3


def test_bulk_action_needs_operations_and_valid_input(reviewer_client, ops_client, queue):
    t = make_ticket(queue)
    url = reverse("handoffs:queue_bulk", args=[queue.slug])
    assert reviewer_client.post(url, {"tickets": [f"{t.pk}:{t.version}"], "action": "cancel"}).status_code == 403
    response = ops_client.post(url, {"tickets": [f"{t.pk}:{t.version}"], "action": "cancel"}, follow=True)
    assert "Nothing was changed" in response.content.decode()
    assert Ticket.objects.get(pk=t.pk).status == TicketStatus.OPEN


def test_resolve_and_take_next_claims_the_next_ticket(reviewer_client, reviewer, queue):
    cause = make_root_cause("Tool failure")
    first, second = make_ticket(queue), make_ticket(queue)
    first = services.claim_ticket(first.pk, reviewer, first.version)
    response = reviewer_client.post(reverse("handoffs:ticket_action", args=[first.pk, "resolve"]), {
        "resolve-version": first.version, "resolve-outcome": Outcome.ACTION_TAKEN,
        "resolve-root_cause": cause.pk, "take_next": "1",
    })
    assert response.status_code == 302 and response.url == second.get_absolute_url()
    assert Ticket.objects.get(pk=first.pk).status == TicketStatus.RESOLVED
    assert Ticket.objects.get(pk=second.pk).assignee == reviewer


def test_resolve_and_take_next_under_htmx_redirects_the_page_or_says_nothing_is_left(reviewer_client, reviewer, queue):
    cause = make_root_cause("Tool failure")
    only = make_ticket(queue)
    only = services.claim_ticket(only.pk, reviewer, only.version)
    response = reviewer_client.post(reverse("handoffs:ticket_action", args=[only.pk, "resolve"]), {
        "resolve-version": only.version, "resolve-outcome": Outcome.ACTION_TAKEN,
        "resolve-root_cause": cause.pk, "take_next": "1",
    }, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == queue.get_absolute_url()
    page = reviewer_client.get(queue.get_absolute_url())
    assert "Nothing else to claim" in page.content.decode()


def test_operations_manage_saved_replies_and_the_holder_sees_them(ops_client, reviewer_client, reviewer, queue):
    response = ops_client.post(reverse("handoffs:saved_reply_create"), {
        "name": "Refund issued", "body": "We have issued your refund.", "position": 10, "is_active": "on",
    })
    assert response.status_code == 302
    assert SavedReply.objects.get().name == "Refund issued"
    assert reviewer_client.get(reverse("handoffs:saved_reply_create")).status_code == 403
    t = make_ticket(queue)
    services.claim_ticket(t.pk, reviewer, t.version)
    page = reviewer_client.get(t.get_absolute_url()).content.decode()
    assert 'data-body="We have issued your refund."' in page


def test_claim_next_message_names_the_order(reviewer_client, queue):
    make_ticket(queue)
    response = reviewer_client.post(reverse("handoffs:claim_next", args=[queue.slug]), follow=True)
    assert "then SLA due, then age" in response.content.decode()
