"""Hostile telemetry cannot poison or stall ingest for everyone: clamped figures, saturating rollups,
poison batches isolated at once with their real error, NUL keys stripped, attempts counted."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.ingest import services as ingest_services
from monitoring.intake.normalize import MAX_SPAN_COST, MAX_SPAN_TOKENS
from monitoring.models import InboxBatch, RollupCell, Run, Step
from tests.monitoring.otlp_builders import agent_trace, otlp_request, span_input

pytestmark = pytest.mark.django_db


def _inbox(spans, **fields) -> InboxBatch:
    body = otlp_request(spans, service=spans[0].resource["service.name"]).SerializeToString()
    return InboxBatch.objects.create(kind="otlp_protobuf", payload=body, span_count=len(spans), **fields)


def _start():
    now = timezone.now()
    return now.replace(second=10, microsecond=0) - timedelta(minutes=2)


def _llm(tokens, *, cost=None, service="svc", start=None):
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": tokens}
    if cost is not None:
        attrs["gen_ai.usage.cost"] = cost
    return span_input(attributes=attrs, service=service, start=start or _start())


def test_huge_token_counts_are_clamped_and_other_agents_keep_ingesting():
    _inbox([_llm(2**63 - 1 - 10**6, cost="99999999", service="hostile")])
    for i in range(3):
        _inbox([_llm(2**62, service=f"agent-{i}")])
    _inbox(agent_trace("refunds", start=timezone.now() - timedelta(minutes=2)))
    result = ingest_services.drain_inbox()
    assert result.finished
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"}
    assert Step.objects.filter(input_tokens__gt=MAX_SPAN_TOKENS).count() == 0
    assert Step.objects.filter(cost__gt=MAX_SPAN_COST).count() == 0
    fleet = RollupCell.objects.filter(agent__isnull=True, tier="m").get()
    assert 0 < fleet.input_tokens <= 2**63 - 1


def test_rollup_sums_saturate_instead_of_failing():
    _inbox([_llm(10, service="a")])
    ingest_services.drain_inbox()
    # As if a long history of clamped spans had filled agent a's cells and the fleet's (which count
    # tasks on their own, not the sum of agent cells): the next runs are added to them.
    RollupCell.objects.update(input_tokens=2**63 - 5, cost=Decimal("999999999999.9"))
    _inbox([_llm(MAX_SPAN_TOKENS, cost="5000", service="a")])
    _inbox([_llm(MAX_SPAN_TOKENS, cost="5000", service="b")])
    ingest_services.drain_inbox()
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"}
    agent = RollupCell.objects.get(agent__slug="a", tier="m")
    assert agent.input_tokens == 2**63 - 1 and agent.cost == Decimal("999999999999.999999")
    for tier in ("m", "h", "d"):
        fleet = RollupCell.objects.get(agent__isnull=True, tier=tier)
        assert fleet.input_tokens == 2**63 - 1, tier


@pytest.fixture(params=["monitoring_step", "monitoring_rollupcell"])
def poisoned(request):
    """A check constraint refusing one marker token count, standing in for any data error: on the steps
    (written by COPY) or on the rollup cells (written through Django's cursor, like an overflowing
    sum). The test's transaction rolls it back."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {request.param} ADD CONSTRAINT test_poison CHECK (input_tokens <> 4242)")
    return request.param


def test_a_data_error_isolates_the_batch_at_once_with_its_real_error(poisoned):
    good = [_inbox([_llm(7, service=f"good-{i}")]) for i in range(3)]
    bad = _inbox([_llm(4242, service="bad")])
    more = [_inbox([_llm(8, service=f"more-{i}")]) for i in range(2)]
    result = ingest_services.drain_inbox()  # must not raise: a data error is not transient
    assert result.finished
    bad.refresh_from_db()
    assert bad.status == "dead" and "test_poison" in bad.error
    assert bad.error.startswith(("IntegrityError", "CheckViolation")), bad.error
    assert bad.attempts >= 1
    for batch in good + more:
        batch.refresh_from_db()
        assert batch.status == "done", batch.error
        assert batch.attempts >= 1


def test_transient_errors_are_the_only_ones_retried():
    from django.db import DataError, IntegrityError, InterfaceError, OperationalError

    assert ingest_services.is_transient(OperationalError("deadlock detected"))
    assert ingest_services.is_transient(InterfaceError("connection already closed"))
    assert not ingest_services.is_transient(DataError("bigint out of range"))
    assert not ingest_services.is_transient(IntegrityError("violates check constraint"))


def test_nul_in_attribute_keys_is_stripped_not_fatal():
    from monitoring.intake.normalize import EventInput

    span = span_input(attributes={"k\x00ey": "v", "gen_ai.operation.name": "chat"},
                      events=[EventInput(name="e", time_unix_nano=0, attributes={"a\x00b": 1})],
                      start=timezone.now() - timedelta(minutes=1))
    neighbour = _inbox([_llm(3, service="neighbour")])
    batch = _inbox([span])
    ingest_services.drain_inbox()
    batch.refresh_from_db()
    neighbour.refresh_from_db()
    assert (batch.status, neighbour.status) == ("done", "done"), batch.error
    step = Step.objects.get(span_id=span.span_id)
    assert "key" in step.attributes and step.events[0]["attributes"] == {"ab": 1}
    assert Run.objects.count() == 2
