"""ROI figures of periods past telemetry retention come from the archive, unchanged."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection

from monitoring.models import Run
from monitoring.storage import partitions, services
from roi.calculations import month_period
from roi.queries import daily_activity
from tests.factories import make_agent
from tests.roi.factories import make_finished_ticket, make_run

pytestmark = pytest.mark.django_db

JANUARY = month_period(2027, 1)


def _figures():
    return sorted((d.agent_id, d.day, d.runs, d.automated, d.handoffs, d.ai_cost)
                  for d in daily_activity(JANUARY.start, JANUARY.end))


def test_daily_figures_are_the_same_before_and_after_the_runs_are_dropped():
    with connection.cursor() as cursor:
        for day in (date(2027, 1, 5), date(2027, 1, 6)):
            for table in partitions.PARTITIONED:
                partitions.create_day(cursor, table, day)
    agent = make_agent()
    make_run(agent, datetime(2027, 1, 5, 10, tzinfo=UTC))
    make_run(agent, datetime(2027, 1, 5, 11, tzinfo=UTC), status="error")
    ticketed = make_run(agent, datetime(2027, 1, 6, 9, tzinfo=UTC))
    make_finished_ticket(agent, datetime(2027, 1, 6, 10, tzinfo=UTC), 60, run=ticketed)
    before = _figures()
    assert sum(row[2] for row in before) == 3

    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC), tick=False):
        services.drop_expired()
        assert not Run.objects.exists()
        assert _figures() == before
        services.drop_expired()  # nothing left to drop: nothing is archived twice
        assert _figures() == before
