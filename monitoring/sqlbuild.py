"""Composing SQL from parts: ``psycopg2.sql``, with every slot of a template filled and every part used.

The write path and the rollups build statements from fragments (a join condition, a column list, a
table name). Composing them with ``psycopg2.sql`` quotes identifiers, and ``compose`` refuses a
template whose slots and parts differ, so an edited template or a renamed slot fails where the
statement is built (at import for module constants) instead of silently leaving a filter out.
Values are never composed in: they stay bound parameters (``%(name)s`` / ``%s``).
"""

from __future__ import annotations

from collections.abc import Iterable
from string import Formatter

from psycopg2 import sql


def compose(template: str, **parts: sql.Composable) -> sql.Composed:
    """``sql.SQL(template).format(**parts)``, checking that the template's ``{slots}`` are exactly
    the parts given (``{{`` and ``}}`` stand for literal braces, as in ``str.format``)."""
    slots = [name for _text, name, _spec, _conversion in Formatter().parse(template) if name is not None]
    if "" in slots or any(not name.isidentifier() for name in slots):
        raise ValueError(f"SQL template slots must be named: {slots}")
    if set(slots) != parts.keys():
        missing, unused = set(slots) - parts.keys(), parts.keys() - set(slots)
        raise ValueError(f"SQL template slots and parts differ: no part for {sorted(missing)}, "
                         f"no slot for {sorted(unused)}")
    return sql.SQL(template).format(**parts)


def identifiers(names: Iterable[str]) -> sql.Composed:
    """``a, b, c`` as quoted identifiers."""
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)
