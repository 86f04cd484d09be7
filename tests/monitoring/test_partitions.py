"""Day partitions of the telemetry tables: placement, the default partition, retention, conversion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from monitoring.models import Escalation, RollupCell, Run, Step
from monitoring.rollups import cells as rollups
from monitoring.storage import partitions, services
from tests.factories import make_agent
from tests.monitoring.factories import make_escalation, make_run, make_score

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)


def _home(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def _partitions(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return set(partitions.partitions(cursor, table))


def test_every_telemetry_table_is_partitioned_by_day_with_a_default():
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            assert partitions.is_partitioned(cursor, table)
            assert partitions.default_name(table) in partitions.partitions(cursor, table)


def _compression(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT attcompression FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s",
                       [table, column])
        return cursor.fetchone()[0]


def test_new_day_partitions_compress_the_step_text_with_lz4_where_the_server_has_it():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        expected = "l" if cursor.fetchone()[0] else ""  # "": the server's default (pglz)
    services.ensure_partitions(NOW)
    name = partitions.partition_name("monitoring_step", NOW.date() + timedelta(days=1))
    assert {_compression(name, column) for column in ("input", "output", "attributes", "events")} == {expected}
    assert _compression(partitions.partition_name("monitoring_run", NOW.date()), "input_preview") == ""


def test_ensure_prepares_yesterday_today_and_the_days_ahead_once():
    created = services.ensure_partitions(NOW, ahead=2)
    assert created["monitoring_step"] == 4
    assert {f"monitoring_step_p2027030{d}" for d in (9,)} | {f"monitoring_step_p2027031{d}" for d in (0, 1, 2)} \
        <= _partitions("monitoring_step")
    assert services.ensure_partitions(NOW, ahead=2) == dict.fromkeys(partitions.PARTITIONED, 0)


def test_rows_land_in_their_day_partition():
    services.ensure_partitions(NOW, ahead=1)
    run = make_run(make_agent(), started_at=NOW - timedelta(hours=1), steps=[{"kind": "tool"}])
    score = make_score(run, occurred_at=run.started_at)
    escalation = make_escalation(run)
    assert _home("monitoring_run", run.pk) == "monitoring_run_p20270310"
    assert {_home("monitoring_step", pk) for pk in run.steps.values_list("id", flat=True)} == {"monitoring_step_p20270310"}
    assert _home("monitoring_score", score.pk) == "monitoring_score_p20270310"
    assert _home("monitoring_escalation", escalation.pk) == "monitoring_escalation_p20270310"


def test_rows_outside_the_prepared_days_are_kept_in_the_default_partition_and_moved_in_later():
    services.ensure_partitions(NOW, ahead=1)
    agent = make_agent()
    skewed = make_run(agent, started_at=NOW + timedelta(days=400))  # a sender's clock far ahead
    late = make_run(agent, started_at=NOW - timedelta(days=5))  # a backfill within retention
    assert _home("monitoring_run", skewed.pk) == "monitoring_run_default"
    assert _home("monitoring_run", late.pk) == "monitoring_run_default"
    services.ensure_partitions(NOW, ahead=1)  # the late day gets its partition, its row moves in
    assert _home("monitoring_run", late.pk) == "monitoring_run_p20270305"
    assert _home("monitoring_run", skewed.pk) == "monitoring_run_default"  # beyond the days prepared
    assert Run.objects.filter(pk__in=[skewed.pk, late.pk]).count() == 2


def test_retention_drops_exactly_the_expired_days_and_keeps_rollups_and_tickets():
    from handoffs.models import Ticket
    from tests.handoffs.factories import make_queue, record_escalations

    agent = make_agent()
    make_queue("Default", is_default=True)
    with connection.cursor() as cursor:
        for day in (date(2027, 1, 1), date(2027, 2, 7), date(2027, 2, 8)):
            for table in partitions.PARTITIONED:
                partitions.create_day(cursor, table, day)
    old = make_run(agent, started_at=datetime(2027, 1, 1, 10, tzinfo=UTC), steps=[{"kind": "tool"}])
    last_expired = make_run(agent, started_at=datetime(2027, 2, 7, 23, 59, tzinfo=UTC))
    first_kept = make_run(agent, started_at=datetime(2027, 2, 8, 0, 0, tzinfo=UTC))
    stray_old = make_run(agent, started_at=datetime(2026, 6, 1, tzinfo=UTC))  # never had a day: default
    future = make_run(agent, started_at=datetime(2031, 1, 1, tzinfo=UTC))
    escalation = make_escalation(old)
    record_escalations(escalation)
    ticket = Ticket.objects.get(escalation=escalation)
    with time_machine.travel(datetime(2027, 1, 3, tzinfo=UTC), tick=False):
        rollups.rebuild(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    cells = RollupCell.objects.filter(bucket__lt=datetime(2027, 1, 2, tzinfo=UTC), tier__in=["h", "d"]).count()
    assert cells > 0

    with time_machine.travel(NOW, tick=False):
        result = services.drop_expired()

    assert result.cutoff == datetime(2027, 2, 8, tzinfo=UTC)  # 30 days before today, at midnight UTC
    assert "monitoring_run_p20270101" in result.dropped["monitoring_run"]
    assert "monitoring_run_p20270207" in result.dropped["monitoring_run"]
    assert "monitoring_step_p20270101" in result.dropped["monitoring_step"]
    assert "monitoring_run_p20270208" in _partitions("monitoring_run")
    assert result.deleted_from_default["monitoring_run"] == 1  # the stray row, not the future one
    assert set(Run.objects.values_list("pk", flat=True)) == {first_kept.pk, future.pk}
    assert not Step.objects.filter(run_id=old.pk).exists() and not Escalation.objects.filter(pk=escalation.pk).exists()
    assert stray_old.pk and last_expired.pk
    # Rollups outlive the raw rows; the ticket is a business record.
    assert RollupCell.objects.filter(bucket__lt=datetime(2027, 1, 2, tzinfo=UTC), tier__in=["h", "d"]).count() == cells
    ticket.refresh_from_db()
    assert ticket.reason == escalation.reason
    with time_machine.travel(NOW, tick=False):  # a rebuild over the dropped days keeps their cells
        rollups.rebuild(datetime(2026, 12, 1, tzinfo=UTC), NOW)
    assert RollupCell.objects.filter(bucket__lt=datetime(2027, 1, 2, tzinfo=UTC), tier__in=["h", "d"]).count() == cells


def _tables_named(prefix: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s", [prefix + "%"])
        return {name for (name,) in cursor.fetchall()}


def test_the_drop_locks_for_the_detach_only_and_removes_the_tables_after():
    services.drop_expired(datetime(2027, 1, 31, tzinfo=UTC))  # whatever days the test database had before 2027
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.create_day(cursor, table, date(2027, 1, 2))
    make_run(make_agent(), started_at=datetime(2027, 1, 2, 9, tzinfo=UTC), steps=[{"kind": "llm"}])

    with time_machine.travel(NOW, tick=False):
        result = services.drop_expired()

    assert "monitoring_step_p20270102" in result.dropped["monitoring_step"]
    assert not _tables_named("monitoring_step_p20270102") and not _tables_named("monitoring_run_p20270102")
    assert result.lock_seconds >= 0 and result.unlink_seconds >= 0 and result.keep_seconds >= 0
    assert result.lock_seconds + result.unlink_seconds + result.keep_seconds <= result.seconds


def test_a_day_table_left_detached_by_an_interrupted_drop_is_removed_by_the_next():
    services.drop_expired(datetime(2027, 1, 31, tzinfo=UTC))
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.create_day(cursor, table, date(2027, 1, 3))
            partitions.create_day(cursor, table, date(2027, 3, 3))
        # Stopped after the commit of its DETACH, before the DROP: a plain table is left behind.
        cursor.execute("ALTER TABLE monitoring_step DETACH PARTITION monitoring_step_p20270103")
        cursor.execute("ALTER TABLE monitoring_step DETACH PARTITION monitoring_step_p20270303")
    assert _tables_named("monitoring_step_p20270103")

    with time_machine.travel(NOW, tick=False):
        services.drop_expired()

    assert not _tables_named("monitoring_step_p20270103")
    assert _tables_named("monitoring_step_p20270303")  # not past retention: left for an operator to look at


def test_a_backlog_of_expired_days_is_dropped_a_few_days_per_transaction():
    services.drop_expired(datetime(2027, 1, 31, tzinfo=UTC))  # whatever days the test database had before 2027
    with connection.cursor() as cursor:
        for offset in range(10):
            for table in partitions.PARTITIONED:
                partitions.create_day(cursor, table, date(2027, 1, 1) + timedelta(days=offset))
    runs = [make_run(make_agent(), started_at=datetime(2027, 1, 1, 12, tzinfo=UTC) + timedelta(days=offset))
            for offset in range(10)]
    befores = []

    def record(sender, before, **kwargs):
        befores.append((before, Run.objects.filter(pk__in=[r.pk for r in runs]).count()))

    from monitoring.signals import telemetry_expiring

    telemetry_expiring.connect(record, dispatch_uid="test.record")
    try:
        with time_machine.travel(NOW, tick=False):
            result = services.drop_expired(days_per_transaction=4)
    finally:
        telemetry_expiring.disconnect(dispatch_uid="test.record")
    # Three transactions for the ten January days, oldest first, each seeing the rows still there.
    assert [b for b, _n in befores[:3]] == [datetime(2027, 1, 5, tzinfo=UTC), datetime(2027, 1, 9, tzinfo=UTC),
                                            result.cutoff]
    assert [n for _b, n in befores[:3]] == [10, 6, 2]
    assert not Run.objects.filter(pk__in=[r.pk for r in runs]).exists()
    assert {f"monitoring_run_p202701{d:02d}" for d in range(1, 11)} <= set(result.dropped["monitoring_run"])


def test_convert_turns_a_plain_table_with_rows_into_day_partitions(monkeypatch):
    monkeypatch.setitem(partitions.PARTITIONED, "scratch_events", "at")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE scratch_events (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                       " at timestamptz NOT NULL, k text NOT NULL CONSTRAINT scratch_events_k_key UNIQUE,"
                       " n int NOT NULL DEFAULT 0 CHECK (n >= 0))")
        cursor.execute("CREATE INDEX scratch_events_n_idx ON scratch_events (n, at)")
        cursor.execute("INSERT INTO scratch_events (at, k, n) SELECT timestamptz '2027-01-01' + g * interval '7 hours',"
                       " 'k' || g, g FROM generate_series(1, 30) g")
        copied = partitions.convert(cursor, "scratch_events", chunk=7)
        assert copied == 30
        assert partitions.is_partitioned(cursor, "scratch_events")
        days = [p for p in partitions.partitions(cursor, "scratch_events") if partitions.day_of(p)]
        assert len(days) == 9  # 30 x 7 hours from Jan 1 07:00 covers nine days
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'scratch_events' ORDER BY indexname")
        definitions = "\n".join(row[0] for row in cursor.fetchall())
        assert "(id, at)" in definitions and "(k, at)" in definitions and "scratch_events_n_idx" in definitions
        cursor.execute("INSERT INTO scratch_events (at, k) VALUES (now(), 'new') RETURNING id")
        assert cursor.fetchone()[0] == 31  # the id sequence goes on
        assert partitions.convert(cursor, "scratch_events") == 0  # converted before: nothing to do
