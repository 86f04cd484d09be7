"""Bulk writes for ingest: rows go to Postgres as COPY text instead of query parameters.

psycopg2 adapts a parameter value by value in C calls that quote, escape and format each one (a
datetime, a Decimal, a string through libpq's escaping): for a group of 1 000 spans the run and
edge inserts spent more time there than Postgres spent inserting. A COPY line is one ``join`` of
already-formatted fields. ``insert_ignoring_conflicts`` COPYs into a session-local staging table
(COPY itself cannot skip conflicts) and moves the rows with one INSERT ... SELECT.

Table and column names passed here come from model metadata or constants, never from input; they are
composed in as quoted identifiers (``psycopg2.sql``), values are COPY data or bound parameters.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg2 import sql

from monitoring.sqlbuild import compose, identifiers

# COPY text format: backslash, tab, newline and carriage return are escaped; NUL cannot be stored
# in a text column and is dropped (the normaliser already strips it from span text).
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": None})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00]")
NULL = "\\N"
# json.dumps(value, ensure_ascii=False, default=str) builds an encoder per call; one shared encoder
# gives the same text.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def text(value: str) -> str:
    """A string as a COPY text field."""
    return value.translate(_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def json_field(value: object) -> str:
    """JSON for a COPY text field. json.dumps escapes every control character itself, so only its
    backslashes need doubling. Empty lists and dicts (most spans' events) skip the encoder."""
    if not value and (type(value) is list or type(value) is dict):
        return "[]" if type(value) is list else "{}"
    return _ENCODER.encode(value).replace("\\", "\\\\")


def field(value: Any) -> str:
    """Any column value as a COPY text field, as Postgres reads it back: the same value psycopg2
    would have sent as a parameter."""
    kind = type(value)
    if kind is str:
        return text(value)
    if value is None:
        return NULL
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is Decimal:
        return str(value)
    if kind is float:
        return repr(value)  # shortest exact form; 'inf'/'nan' are valid float8 input
    if kind is datetime or kind is date:
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json_field(value)
    return text(str(value))


def line(row: Sequence[Any]) -> str:
    """One row (values in column order) as a COPY text line."""
    return "\t".join(map(field, row))


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY ``rows`` (values in ``columns`` order) into ``table`` on a raw psycopg2 cursor."""
    copy_lines(cursor, table, columns, [line(row) for row in rows])


def copy_lines(cursor, table: str, columns: Sequence[str], lines: list[str]) -> None:
    """COPY already formatted lines (fields joined by tabs, each made by ``field`` or an equivalent
    that knows its values need no escaping) into ``table``."""
    if lines:
        body = "\n".join(lines) + "\n"
        statement = compose("COPY {table} ({columns}) FROM STDIN", table=sql.Identifier(table),
                            columns=identifiers(columns))
        cursor.copy_expert(statement, io.StringIO(body))


def staging_table(cursor, table: str, columns: Sequence[str]) -> str:
    """A temporary table with ``table``'s types for ``columns``, emptied at commit. Created once per
    connection (creating and dropping it per call costs more catalog work than the COPY itself)."""
    name = f"stage_{table}_{hashlib.sha1(','.join(columns).encode()).hexdigest()[:8]}"  # noqa: S324 - a name, not security
    cursor.execute(compose(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA",
        stage=sql.Identifier(name), columns=identifiers(columns), table=sql.Identifier(table),
    ))
    return name


def insert_ignoring_conflicts(
    cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
    constants: Sequence[tuple[str, str, Any]] = (), returning: Sequence[str] = (),
) -> list[tuple]:
    """INSERT ``rows`` into ``table`` skipping those that conflict with a unique constraint, through
    a staging table. ``constants``: (column, SQL type, value) set alike on every row. With
    ``returning`` (column names), returns those columns of the rows actually inserted."""
    return insert_lines_ignoring_conflicts(
        cursor, table, columns, [line(row) for row in rows], constants=constants, returning=returning
    )


def insert_lines_ignoring_conflicts(
    cursor, table: str, columns: Sequence[str], lines: list[str], *,
    constants: Sequence[tuple[str, str, Any]] = (), returning: Sequence[str] = (), absent: Sequence[str] = (),
) -> list[tuple]:
    """``insert_ignoring_conflicts`` for lines already formatted as ``copy_lines`` takes them. Must run
    inside a transaction: the staging table empties itself at every commit.

    ``absent`` (columns, a subset of ``columns``): skip the rows whose values of these columns are
    stored already, for a table with no unique index on them. Only safe while no other transaction
    can insert such rows (the caller holds a lock that excludes them)."""
    if not lines:
        return []
    stage = staging_table(cursor, table, columns)
    copy_lines(cursor, stage, columns, lines)
    # Constants: one bound parameter each, cast to the column's type (a type name from model metadata).
    values = sql.SQL("").join(sql.SQL(", %s::") + sql.SQL(sql_type) for _c, sql_type, _v in constants)
    if absent:
        match = sql.SQL(" AND ").join(sql.SQL("t.{c} = s.{c}").format(c=sql.Identifier(c)) for c in absent)
        skip = sql.SQL(" s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})").format(
            table=sql.Identifier(table), match=match)
    else:
        skip = sql.SQL(" ON CONFLICT DO NOTHING")
    statement = compose(
        "INSERT INTO {table} ({names}) SELECT {columns}{values} FROM {stage}{skip}{returning}",
        table=sql.Identifier(table), names=identifiers((*columns, *(c for c, _t, _v in constants))),
        columns=identifiers(columns), values=values, stage=sql.Identifier(stage), skip=skip,
        returning=sql.SQL(" RETURNING ") + identifiers(returning) if returning else sql.SQL(""),
    )
    cursor.execute(statement, [v for _c, _t, v in constants])
    result = cursor.fetchall() if returning else []
    cursor.execute(compose("TRUNCATE {stage}", stage=sql.Identifier(stage)))  # the next call starts empty
    return result
