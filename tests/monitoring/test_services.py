"""Ingest services: claiming batches, groups, dead letters, replay, sweeping the inbox."""


from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.ingest import services as ingest_services
from monitoring.models import InboxBatch, Step
from tests.factories import make_agent, make_api_key
from tests.monitoring.ingest_helpers import NOW
from tests.monitoring.otlp_builders import agent_trace, protobuf_body

pytestmark = pytest.mark.django_db


def test_ingest_batch_marks_the_batch_done_and_is_idempotent():
    batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=protobuf_body(agent_trace()),
                                      received_at=NOW)
    assert ingest_services.ingest_batch(batch.pk).status == "done"
    assert ingest_services.ingest_batch(batch.pk).status == "skipped"
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, Step.objects.count()) == ("done", 1, 3)


def test_undecodable_stored_batch_goes_to_dead_letters_with_the_error():
    batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=b"\xff\xfe garbage", received_at=NOW)
    assert ingest_services.ingest_batch(batch.pk).status == "dead"
    batch.refresh_from_db()
    assert batch.status == "dead" and "PayloadError" in batch.error


def test_replaying_a_dead_batch_requeues_it_once():
    batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=b"x", status="dead", error="boom")
    assert ingest_services.replay_batch(batch.pk) and not ingest_services.replay_batch(batch.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.error, batch.attempts) == ("pending", "", 0)


def test_restricted_key_batch_only_stores_its_agents_spans():
    agent = make_agent("Refund agent", slug="refund-agent")
    key, _ = make_api_key(agent=agent)
    other = agent_trace("billing-agent")
    own = agent_trace("refund-agent")
    batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=protobuf_body(other + own),
                                      api_key=key, received_at=NOW)
    ingest_services.ingest_batch(batch.pk)
    assert set(Step.objects.values_list("agent__slug", flat=True)) == {"refund-agent"}
    assert Step.objects.count() == 5  # billing root rejected; its children attributed to the key's agent


def test_sweeper_requeues_stale_pending_batches_and_kills_exhausted_ones():
    old = NOW - timedelta(hours=1)
    stale = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"", enqueued_at=old, received_at=old)
    fresh = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"")
    exhausted = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"", enqueued_at=old, attempts=5)
    result = ingest_services.sweep_inbox(older_than=timedelta(minutes=2))
    assert result.requeued == [stale.pk] and result.dead == [exhausted.pk]
    assert InboxBatch.objects.get(pk=fresh.pk).status == "pending"


def test_a_first_attempt_ingests_other_waiting_batches_in_the_same_transaction():
    batches = [InboxBatch.objects.create(kind="otlp_protobuf", payload=protobuf_body(agent_trace()), received_at=NOW)
               for _ in range(3)]
    assert ingest_services.ingest_batch(batches[0].pk, group=10).status == "done"
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"} and Step.objects.count() == 9
    assert ingest_services.ingest_batch(batches[1].pk).status == "skipped"


def test_a_group_takes_the_newest_waiting_batches_whose_tasks_come_last():
    batches = [InboxBatch.objects.create(kind="otlp_protobuf", payload=protobuf_body(agent_trace()),
                                         received_at=NOW + timedelta(seconds=i)) for i in range(5)]
    assert ingest_services.ingest_batch(batches[0].pk, group=3).status == "done"
    done = set(InboxBatch.objects.filter(status="done").values_list("pk", flat=True))
    assert done == {batches[0].pk, batches[3].pk, batches[4].pk}
    assert ingest_services.ingest_batch(batches[1].pk, group=3).status == "done"  # takes 2, the only one left
    assert not InboxBatch.objects.filter(status="pending").exists()


def test_a_poison_batch_in_a_group_does_not_sink_the_others():
    good = InboxBatch.objects.create(kind="otlp_protobuf", payload=protobuf_body(agent_trace()), received_at=NOW)
    poison = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"\\xff garbage", received_at=NOW)
    other = InboxBatch.objects.create(kind="otlp_protobuf", payload=protobuf_body(agent_trace()), received_at=NOW)
    result = ingest_services.ingest_batch(good.pk, group=10)
    # The group failed on the poison batch: each batch was retried alone, the poison one is dead now
    # (with its own error) and the others are stored.
    assert (result.status, result.stored_spans) == ("done", 6)
    assert InboxBatch.objects.get(pk=poison.pk).status == "dead"
    assert InboxBatch.objects.get(pk=poison.pk).error.startswith("PayloadError:")
    assert InboxBatch.objects.get(pk=other.pk).status == "done" and Step.objects.count() == 6
    assert ingest_services.ingest_batch(poison.pk, group=10).status == "skipped"
