"""One JSON reader for every machine endpoint: any malformed body is the sender's error (400).

``json.loads`` raises more than ``JSONDecodeError``: ``UnicodeDecodeError`` for bytes that are not
UTF-8, ``ValueError`` for an integer of more than 4 300 digits, ``RecursionError`` for deep nesting.
Documents nested deeper than ``MAX_JSON_DEPTH`` are refused too, so nothing downstream (id rewriting,
protobuf parsing, the worker's JSON encoder) can recurse out of the stack.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64  # an OTLP attribute sits at depth ~12; each kvlistValue level adds 3


class JSONBodyError(ValueError):
    """The body is not a JSON document we can read; the message names the problem."""


def load_json(payload: bytes) -> Any:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise JSONBodyError(f"body is not valid JSON: {reason}") from exc
    check_depth(document)
    return document


def check_depth(document: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Iterative (no recursion of its own): raises JSONBodyError past ``limit`` levels of nesting."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise JSONBodyError(f"body is nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
