"""COPY-based bulk writes: every value reads back as psycopg2 would have sent it as a parameter."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import psycopg2.errors
import pytest
from django.db import connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from monitoring.ingest import bulk

pytestmark = pytest.mark.django_db


@pytest.fixture
def scratch():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bulk_scratch (id serial PRIMARY KEY, t text, v varchar(5), b boolean, i bigint,"
            " n numeric(14, 6), f float8, at timestamptz, j jsonb, UNIQUE (v))"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bulk_scratch")


def read_back(columns: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM bulk_scratch ORDER BY id")  # noqa: S608 - test constant
        return cursor.fetchall()


def test_every_kind_of_value_reads_back_unchanged(scratch):
    at = datetime(2026, 11, 24, 23, 59, 58, 123456, tzinfo=UTC)
    rows = [
        ("tab\there\nnew\\line\rcr", "a", True, 2**40, Decimal("12.345678"), 0.1, at, {"k": ["v", 1, None, "x\ty"]}),
        ("", None, False, 0, Decimal("0"), -1e-300, at, []),
        (None, "b", None, None, None, None, None, None),
    ]
    with connection.cursor() as cursor:
        bulk.copy_rows(cursor.cursor, "bulk_scratch", ("t", "v", "b", "i", "n", "f", "at", "j"), rows)
    stored = [(*row[:-1], None if row[-1] is None else json.loads(row[-1])) for row in read_back("t, v, b, i, n, f, at, j")]
    assert stored == rows  # (Django hands jsonb back as text)


def test_infinite_and_nan_floats_are_stored_as_such(scratch):
    with connection.cursor() as cursor:
        bulk.copy_rows(cursor.cursor, "bulk_scratch", ("f",), [(math.inf,), (-math.inf,), (math.nan,)])
    stored = [f for (f,) in read_back("f")]
    assert stored[:2] == [math.inf, -math.inf] and math.isnan(stored[2])


def test_nul_is_dropped_from_text(scratch):
    with connection.cursor() as cursor:
        bulk.copy_rows(cursor.cursor, "bulk_scratch", ("t",), [("a\x00b",)])
    assert read_back("t") == [("ab",)]


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60))
def test_any_text_round_trips(scratch, value):
    with transaction.atomic(), connection.cursor() as cursor:
        bulk.copy_rows(cursor.cursor, "bulk_scratch", ("t",), [(value,)])
        cursor.execute("SELECT t FROM bulk_scratch ORDER BY id DESC LIMIT 1")
        assert cursor.fetchone()[0] == value


def test_insert_ignoring_conflicts_skips_duplicates_and_returns_what_it_inserted(scratch):
    with connection.cursor() as cursor:
        first = bulk.insert_ignoring_conflicts(cursor.cursor, "bulk_scratch", ("v", "t"), [("a", "1"), ("b", "2")],
                                               returning=("v",))
        second = bulk.insert_ignoring_conflicts(
            cursor.cursor, "bulk_scratch", ("v", "t"), [("b", "dup"), ("c", "3"), ("c", "dup in batch")],
            constants=[("i", "bigint", 7)], returning=("v",),
        )
    assert sorted(first) == [("a",), ("b",)] and second == [("c",)]
    assert read_back("v, t, i") == [("a", "1", None), ("b", "2", None), ("c", "3", 7)]


def test_too_long_text_for_a_column_is_an_error_not_a_truncation(scratch):
    with pytest.raises(psycopg2.errors.StringDataRightTruncation), transaction.atomic(), connection.cursor() as cursor:
        bulk.insert_ignoring_conflicts(cursor.cursor, "bulk_scratch", ("v",), [("much too long",)])
    assert read_back("v") == []
