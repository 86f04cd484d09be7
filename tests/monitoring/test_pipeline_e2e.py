"""Through the real parts: OpenTelemetry SDK -> live server -> inbox -> Celery on Redis -> Postgres."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from demo.simulator import SdkEmitter, TraceGenerator, plan_to_span_inputs
from handoffs.models import Ticket
from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks as ingest_tasks
from monitoring.intake import services as intake_services
from monitoring.intake.normalize import EventInput
from monitoring.models import Announcement, Escalation, InboxBatch, Run, Score, Step
from tests.factories import make_api_key, make_price
from tests.handoffs.factories import make_queue
from tests.monitoring.celery_helpers import (
    purge_broker,
    start_subprocess_worker,
    stop,
    thread_worker,
    wait_for,
)
from tests.monitoring.otlp_builders import agent_trace, ns, protobuf_body

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def all_processed() -> bool:
    return not InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).exists()


def test_sdk_traces_end_up_in_postgres_with_tokens_costs_scores_and_escalations(live_server):
    make_price("gpt-4o", inp="2.50", out="10.00")
    make_price("gpt-4o-mini", inp="0.15", out="0.60")
    make_price("claude-3-5-sonnet", inp="3.00", out="15.00")
    _, token = make_api_key("e2e")
    generator = TraceGenerator(seed=11)
    now = timezone.now()
    plans = [generator.trace(now - timedelta(minutes=5), agent="support-orchestrator").end_at(now) for _ in range(8)]
    plans += [generator.trace(now - timedelta(minutes=5), agent="invoice-processor").end_at(now) for _ in range(4)]
    nodes = [node for plan in plans for node in plan.root.walk()]
    with thread_worker():
        emitter = SdkEmitter(live_server.url, token)
        for plan in plans:
            emitter.emit(plan)
        emitter.flush()
        emitter.shutdown()
        wait_for(lambda: InboxBatch.objects.exists() and all_processed(), what="the inbox to drain")
    assert Run.objects.count() == len(plans)
    assert Step.objects.count() == len(nodes)
    llm_input = sum(n.attributes.get("gen_ai.usage.input_tokens", 0) for n in nodes if n.name.startswith("chat"))
    assert Run.objects.aggregate(total=Sum("input_tokens"))["total"] == llm_input
    assert Run.objects.filter(cost__gt=0).count() == len(plans)
    evaluations = sum(1 for n in nodes for e in n.events if e[0] == "gen_ai.evaluation.result")
    assert Score.objects.count() == evaluations >= len(plans)  # each run's root, and each nested invocation
    escalation_events = sum(1 for n in nodes for e in n.events if e[0] == "agentops.escalation")
    assert Escalation.objects.count() == escalation_events
    assert set(Run.objects.values_list("agent__slug", flat=True)) == {"support-orchestrator", "invoice-processor"}
    sub_agents = set(Step.objects.filter(kind="agent").values_list("agent__slug", flat=True))
    assert sub_agents & {"billing-agent", "refund-agent", "kb-search-agent"}


def test_worker_killed_mid_batch_then_sweep_stores_every_span_exactly_once(tmp_path):
    purge_broker()
    _, token = make_api_key("kill")
    generator = TraceGenerator(seed=5)
    now = timezone.now()
    batches = []
    for _ in range(3):
        spans = [s for _ in range(4) for s in plan_to_span_inputs(generator.trace(now - timedelta(minutes=3)))]
        batches.append(spans)
    marker = tmp_path / "stalled"
    slow = start_subprocess_worker(os.path.join("tests", "monitoring", "slow_worker.py"), str(marker))
    try:
        for spans in batches:
            intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, protobuf_body(spans), None, len(spans))
        wait_for(marker.exists, timeout=90, what="the worker to stall mid-batch")
        os.kill(slow.pid, signal.SIGKILL)
        slow.wait(timeout=10)
    finally:
        stop(slow)
    # The stalled batch's transaction died with the worker: nothing of it is visible.
    assert InboxBatch.objects.filter(status="pending").count() >= 1
    stored_before = Step.objects.count()
    worker = start_subprocess_worker()
    try:
        # Redis keeps the unacked message until its visibility timeout; the sweeper does not wait.
        for batch_id in ingest_services.sweep_inbox(older_than=timedelta(0)).requeued:
            ingest_tasks.enqueue(batch_id)  # what the sweep task does with them
        wait_for(all_processed, timeout=90, what="the sweeper's batches to be processed")
        assert not ingest_services.sweep_inbox(older_than=timedelta(0)).requeued  # nothing left to do
    finally:
        stop(worker)
    expected = sum(len(spans) for spans in batches)
    assert stored_before < expected
    assert Step.objects.count() == expected
    assert Step.objects.values("run__trace_id", "span_id").distinct().count() == expected
    assert Run.objects.count() == 12
    assert InboxBatch.objects.filter(status="done").count() == 3


def test_worker_killed_between_commit_and_delivery_then_the_beat_opens_the_ticket(tmp_path):
    purge_broker()
    make_queue("Support", is_default=True)
    start = timezone.now() - timedelta(minutes=2)
    spans = agent_trace(start=start)
    spans[0].events.append(EventInput("agentops.escalation", ns(start), {"agentops.escalation.reason": "refund"}))
    marker = tmp_path / "stalled"
    slow = start_subprocess_worker(os.path.join("tests", "monitoring", "slow_worker.py"), str(marker), "delivery")
    try:
        intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, protobuf_body(spans), None, len(spans))
        wait_for(marker.exists, timeout=30, what="the delivery to stall after the batch committed")
        os.kill(slow.pid, signal.SIGKILL)
        slow.wait(timeout=10)
    finally:
        stop(slow)
    # The telemetry and its announcement committed; the process died before any receiver ran.
    assert InboxBatch.objects.get().status == InboxBatch.Status.DONE
    escalation = Escalation.objects.get()
    assert Announcement.objects.get().escalation_ids == [escalation.pk]
    assert not Ticket.objects.exists()
    assert ingest_tasks.deliver_announcements()["delivered"] == 1  # the beat's task
    assert Ticket.objects.get().escalation_id == escalation.pk
    assert not Announcement.objects.exists()


def test_worker_keeps_its_database_connection_across_tasks():
    """Celery's Django fixup closes the connection after every task unless told otherwise; ingest
    would then pay a new Postgres backend (and its staging table) per batch."""
    purge_broker()
    generator = TraceGenerator(seed=9)
    now = timezone.now()

    def backends() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'conn-reuse-test'")
            return [pid for (pid,) in cursor.fetchall()]

    worker = start_subprocess_worker(env={"DB_CONN_MAX_AGE": "600", "PGAPPNAME": "conn-reuse-test"})
    try:
        samples: list[set[int]] = []
        for _ in range(4):
            spans = plan_to_span_inputs(generator.trace(now - timedelta(minutes=1)))
            intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, protobuf_body(spans), None, len(spans))
            wait_for(all_processed, timeout=90, what="the batch to be processed")
            samples.append(set(backends()))
    finally:
        stop(worker)
    assert InboxBatch.objects.filter(status="done").count() == 4
    # One backend served every task. Other, short-lived connections may come and go beside it (the
    # worker's start-up checks, on a busy host still open when the first task ends): counting every
    # pid ever seen made this test fail under load although the connection was reused.
    assert set.intersection(*samples), f"no database connection lasted across the 4 tasks: {samples}"
