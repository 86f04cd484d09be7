"""SQL composition: a template's slots and the parts given must match, or nothing is built; the
rollup increment reads only the new runs (its filter is really in the statement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from psycopg2 import sql

from monitoring.models import RollupCell
from monitoring.rollups import cells as rollups
from monitoring.rollups import statements
from monitoring.rollups.models import Tier
from monitoring.sqlbuild import compose, identifiers
from tests.factories import make_agent
from tests.monitoring.factories import make_run

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_compose_fills_named_slots_quotes_identifiers_and_keeps_literal_braces():
    built = compose("SELECT {columns} FROM {table} WHERE x = '{{}}'::jsonb AND y = %(y)s",
                    columns=identifiers(["a", "weird name"]), table=sql.Identifier("t"))
    with connection.cursor() as cursor:
        assert built.as_string(cursor.cursor) == """SELECT "a", "weird name" FROM "t" WHERE x = '{}'::jsonb AND y = %(y)s"""


@pytest.mark.parametrize(("template", "parts", "message"), [
    ("SELECT * FROM {table} WHERE {filter}", {"table": sql.Identifier("t")}, r"no part for \['filter'\]"),
    # The increment's failure mode: the filter is given, but the template has no slot for it any more.
    ("SELECT * FROM {table}", {"table": sql.Identifier("t"), "filter": sql.SQL("x")}, r"no slot for \['filter'\]"),
    ("SELECT {} FROM t", {}, "must be named"),
])
def test_compose_refuses_a_template_whose_slots_and_parts_differ(template, parts, message):
    with pytest.raises(ValueError, match=message):
        compose(template, **parts)


@pytest.mark.django_db
def test_the_increment_statements_join_only_the_new_rows_and_the_recomputes_all_rows():
    with connection.cursor() as cursor:
        added = statements.cells_added_from_new_invocations().as_string(cursor.cursor)
        recomputed = statements.cells_from_invocations().as_string(cursor.cursor)
        fleet_added = statements.fleet_cells_added_from_new_runs().as_string(cursor.cursor)
        fleet_recomputed = statements.fleet_cells_from_runs().as_string(cursor.cursor)
    # The new rows are looked up run id by run id (an equality on the run-id index each), then joined.
    new_rows = ('new_rows AS MATERIALIZED (SELECT x.* FROM unnest(%(new)s::bigint[]) AS n(id) CROSS JOIN LATERAL'
                ' (SELECT * FROM "monitoring_invocation" WHERE "run_id" = n.id AND started_at >= %(lo)s')
    assert new_rows in added and added.count("%(new)s") == 1
    assert 'JOIN "new_rows" r ON r.agent_id = k.agent_id' in added
    assert "%(new)s" not in recomputed and 'JOIN "monitoring_invocation" r ON r.agent_id = k.agent_id' in recomputed
    assert 'SELECT * FROM "monitoring_run" WHERE "id" = n.id AND started_at >= %(lo)s' in fleet_added
    assert 'JOIN "new_rows" r ON r.started_at' in fleet_added
    assert "%(new)s" not in fleet_recomputed and 'JOIN "monitoring_run" r ON r.started_at' in fleet_recomputed
    assert '"runs" = "monitoring_rollupcell"."runs" + EXCLUDED."runs"' in added
    assert '"runs" = EXCLUDED."runs"' in recomputed


@pytest.mark.django_db
def test_adding_new_runs_to_a_minute_counts_each_run_once():
    """Were the new-runs filter dropped, the increment would add the minute's stored run again (3)."""
    agent = make_agent()
    with time_machine.travel(NOW, tick=False):
        first = make_run(agent, started_at=NOW - timedelta(minutes=2, seconds=10))
        rollups.refresh_for_runs([first.id])
        second = make_run(agent, started_at=NOW - timedelta(minutes=2, seconds=30))
        rollups.refresh_for_runs([second.id], new_ids=[second.id])
    minute = RollupCell.objects.get(tier=Tier.MINUTE, agent=agent)
    assert minute.runs == 2
    assert RollupCell.objects.get(tier=Tier.MINUTE, agent=None).runs == 2
