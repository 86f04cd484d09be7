"""The failure-group move: old fixed root-cause codes become foreign keys to the editable taxonomy."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from handoffs.models import RootCause
from insights.models import FailureGroup

BEFORE = [("insights", "0001_initial")]  # FailureGroup still in monitoring_failuregroup, codes as text


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_old_codes_map_to_existing_causes_by_slug_or_name_and_missing_ones_are_created():
    _migrate(BEFORE)
    try:
        knowledge = RootCause.objects.create(slug="missing-knowledge", name="Missing knowledge", position=10)
        tools = RootCause.objects.create(slug="tools", name="Tool failure", position=20)  # same name, other slug
        RootCause.objects.create(slug="data-quality", name="Data quality", position=80)
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO monitoring_failuregroup (fingerprint, root_cause, note, created_at, updated_at)"
                " VALUES (%s, %s, %s, now(), now())",
                [("a" * 40, "missing_knowledge", "kb"), ("b" * 40, "tool_failure", ""),
                 ("c" * 40, "other", ""), ("d" * 40, "", "no cause yet"), ("e" * 40, "missing_knowledge", "")],
            )
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    causes = dict(FailureGroup.objects.values_list("fingerprint", "root_cause__slug"))
    assert causes == {"a" * 40: "missing-knowledge", "b" * 40: "tools", "c" * 40: "other", "d" * 40: None,
                      "e" * 40: "missing-knowledge"}
    other = RootCause.objects.get(slug="other")
    assert (other.name, other.is_active, other.position) == ("Other", True, 90)  # after the last one
    assert RootCause.objects.count() == 4 and knowledge.failure_groups.count() == 2
    assert tools.failure_groups.get().fingerprint == "b" * 40
    assert FailureGroup.objects.get(fingerprint="d" * 40).note == "no cause yet"
