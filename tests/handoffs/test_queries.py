"""Metrics selectors compute the numbers operations reads, with a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoffs import queries, services
from handoffs.models import Outcome
from tests.factories import make_agent
from tests.handoffs.factories import make_queue, make_root_cause, make_ticket

pytestmark = pytest.mark.django_db


def _last_week(queue, now):
    return queries.queue_metrics(queue, now - timedelta(days=7), now, now=now)


@pytest.fixture
def queue():
    return make_queue("Support", is_default=True, sla_claim_minutes=10, sla_resolve_minutes=60)


def _work(ticket, reviewer, cause, claim_after_min: float, handle_min: float):
    t = services.claim_ticket(ticket.pk, reviewer, ticket.version,
                              now=ticket.created_at + timedelta(minutes=claim_after_min))
    return services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause,
                                   now=t.claimed_at + timedelta(minutes=handle_min))


def test_time_to_claim_percentiles_handle_time_and_sla_compliance(queue, reviewer):
    cause = make_root_cause()
    for claim_after, handle in [(2, 4), (6, 6), (20, 8)]:  # the last misses the 10-minute claim SLA
        _work(make_ticket(queue), reviewer, cause, claim_after, handle)
    totals = _last_week(queue, timezone.now() + timedelta(hours=1)).totals
    assert totals["arrivals"] == 3 and totals["resolved"] == 3
    assert totals["claim_p50"] == pytest.approx(6 * 60)
    assert totals["claim_p90"] == pytest.approx((6 + 0.8 * 14) * 60)
    assert totals["handle_avg"] == pytest.approx(6 * 60)
    assert totals["claim_compliance"] == pytest.approx(2 / 3)
    assert totals["resolve_compliance"] == 1


def test_reopen_rate_and_lease_expiries(queue, reviewer, ops_user):
    cause = make_root_cause()
    a = _work(make_ticket(queue), reviewer, cause, 1, 1)
    _work(make_ticket(queue), reviewer, cause, 1, 1)
    services.reopen_ticket(a.pk, ops_user, a.version, now=a.resolved_at + timedelta(minutes=1))
    c = make_ticket(queue)
    services.claim_ticket(c.pk, reviewer, c.version, now=c.created_at)
    services.expire_leases(now=c.created_at + timedelta(minutes=16))
    totals = _last_week(queue, timezone.now() + timedelta(hours=1)).totals
    assert totals["reopen_rate"] == pytest.approx(0.5)
    assert totals["lease_expiries"] == 1


def test_depth_by_age_buckets_active_tickets(queue):
    now = timezone.now()
    make_ticket(queue)
    old = make_ticket(queue)
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=5))
    depth = dict(_last_week(queue, now).depth_by_age)
    assert depth["< 1 h"] == 1 and depth["> 3 d"] == 1


def test_queue_tickets_query_count_does_not_grow_with_rows(queue, reviewer, django_assert_num_queries):
    for _ in range(3):
        make_ticket(queue)
    t = make_ticket(queue)
    services.claim_ticket(t.pk, reviewer, t.version)
    with django_assert_num_queries(2):
        page = queries.queue_tickets(queue, queries.TicketFilters())
        assert [r.assignee.username for r in page.tickets if r.assignee] == ["rita"]
    assert (page.total, page.by_status["open"], page.by_status["claimed"]) == (4, 3, 1)


def test_queue_tickets_pages_through_every_ticket_once(queue):
    for _ in range(queries.QUEUE_PAGE_SIZE + 3):
        make_ticket(queue)
    first = queries.queue_tickets(queue, queries.TicketFilters(), page=1)
    second = queries.queue_tickets(queue, queries.TicketFilters(), page=2)
    assert (first.pages, first.first, first.last, second.first, second.last) == (2, 1, 50, 51, 53)
    ids = [t.pk for t in first.tickets + second.tickets]
    assert len(set(ids)) == queries.QUEUE_PAGE_SIZE + 3
    assert queries.queue_tickets(queue, queries.TicketFilters(), page=99).page == 2  # clamped


def test_queue_state_changes_when_a_ticket_is_written_and_only_then(queue, reviewer):
    t = make_ticket(queue)
    before = queries.queue_state(queue, queries.TicketFilters())[2]
    assert queries.queue_state(queue, queries.TicketFilters())[2] == before
    services.claim_ticket(t.pk, reviewer, t.version)
    assert queries.queue_state(queue, queries.TicketFilters())[2] != before


def test_search_finds_by_number_words_and_session(queue):
    a = make_ticket(queue, reason="refund over limit")
    b = make_ticket(queue, reason="address change")
    type(b).objects.filter(pk=b.pk).update(session_id="sess-42")
    assert [t.pk for t in queries.search_tickets(f"#{a.pk}")] == [a.pk]
    assert [t.pk for t in queries.search_tickets("OVER LIMIT")] == [a.pk]
    assert [t.pk for t in queries.search_tickets("sess-42")] == [b.pk]
    assert queries.search_tickets("   ") == []


def test_queue_summaries_is_one_query(queue, django_assert_num_queries):
    make_ticket(queue)
    make_queue("IT")
    with django_assert_num_queries(1):
        summaries = queries.queue_summaries()
    assert [(q.name, q.open_count) for q in summaries] == [("IT", 0), ("Support", 1)]


def test_escalation_and_handoff_rates_count_the_same_runs_as_the_overview():
    from handoffs.models import Ticket
    from tests.handoffs.factories import make_escalation, make_run, record_escalations, record_runs

    queue = make_queue("Rates", is_default=True, open_on_run_failure=True)
    agent = make_agent("Rated")
    plain = [make_run(agent) for _ in range(6)]
    escalated = [make_run(agent, has_escalation=True) for _ in range(3)]
    failed = make_run(agent, status="error", error_type="Timeout")
    record_escalations(*[make_escalation(r) for r in escalated])
    record_runs(failed, *plain)
    assert Ticket.objects.filter(queue=queue).count() == 4
    now = timezone.now()
    [row] = queries.queue_metrics(None, now - timedelta(days=7), now).by_agent
    assert (row["runs"], row["escalated"], row["ticketed"], row["tickets"]) == (10, 3, 4, 4)
    assert row["escalation_rate"] == pytest.approx(0.3) and row["rate"] == pytest.approx(0.4)
