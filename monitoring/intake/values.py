"""Attribute values as the normaliser stores them: wrong types are never fatal (the value is just not
used), text is capped, and a span keeps only the attributes no column holds."""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

TRUNCATION_MARKER = "…[truncated]"
SHORT_CAP = 120
# Per-span limits (docs/telemetry.md, "Limits"): larger values are clamped to these, so no sender can
# make a run, a rollup cell or a fleet total overflow its column. A real model call is far below both.
MAX_SPAN_TOKENS = 100_000_000  # input or output tokens of one span
MAX_SPAN_COST = Decimal("10000")  # USD of one span, sent or computed from the price


def cap_text(value: Any, cap_bytes: int) -> str:
    """``value`` as text, cut to ``cap_bytes`` of UTF-8 with a marker where truncated."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if len(text) * 4 <= cap_bytes and "\x00" not in text:
        return text  # fast path: short enough that even 4-byte UTF-8 characters fit (no encoding needed)
    text = text.replace("\x00", "")  # Postgres text cannot hold NUL
    encoded = text.encode("utf-8", "ignore")
    if len(encoded) <= cap_bytes:
        return text
    return encoded[:cap_bytes].decode("utf-8", "ignore") + TRUNCATION_MARKER


def _short(value: Any, cap: int = SHORT_CAP) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if type(value) is str and "\x00" not in value:
        text = value.strip()  # the common case, same result as below without two copies
    else:
        text = str(value).replace("\x00", "").strip()
    return text if len(text) <= cap else text[: cap - 1] + "…"


def as_int(value: Any) -> int:
    """A non-negative int from an int, float or numeric string; 0 for anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    if isinstance(value, str):
        try:
            return max(int(float(value.strip())), 0)
        except (ValueError, OverflowError):
            return 0
    return 0


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_cost(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or isinstance(value, (dict, list)):
        return None
    try:
        cost = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not cost.is_finite() or cost < 0:
        return None
    return min(cost, MAX_SPAN_COST).quantize(Decimal("0.000001"))


def as_tokens(value: Any) -> int:
    """A token count: ``as_int`` clamped to ``MAX_SPAN_TOKENS``."""
    return min(as_int(value), MAX_SPAN_TOKENS)


def _key(key: str) -> str:
    """An attribute key as stored: PostgreSQL's jsonb refuses NUL, so it is dropped (and capped)."""
    return (key.replace("\x00", "") if "\x00" in key else key)[:200]


def first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value not in (None, ""):
            return value
    return None


def first_key(attributes: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The key ``first`` takes its value from (None when no key has a value)."""
    for key in keys:
        if attributes.get(key) not in (None, ""):
            return key
    return None


def _holds(sent: Any, stored: Any) -> bool:
    """Whether a column holding ``stored`` keeps all of the attribute value ``sent`` (a capped or
    converted value does not: the attribute stays as sent)."""
    if stored is None or stored == "" or isinstance(sent, bool):
        return False
    if isinstance(stored, str):
        return sent == stored
    if isinstance(stored, Decimal):
        try:
            return Decimal(str(sent).strip()) == stored
        except InvalidOperation:
            return False
    return type(sent) is int and sent == stored


def stored_attributes(attrs: dict[str, Any], omit: set[str]) -> dict[str, Any]:
    """A span's attributes as the step keeps them: the first 128, values capped, without ``omit`` (the
    keys whose values the step's columns hold: operation, model, tool name, token counts, cost, error
    type, input and output), so a span's bytes are not stored twice. Agent, session and prompt
    version keys stay: the step has no column for them."""
    return {_key(k): _json_safe(v, 2000) for k, v in islice(attrs.items(), 128) if k not in omit}


def _json_safe(value: Any, cap: int) -> Any:
    kind = type(value)
    if kind is str and len(value) * 4 <= cap and "\x00" not in value:
        return value  # cap_text's fast path, without the call
    if kind is int or kind is bool:
        return value
    if isinstance(value, str):
        return cap_text(value, cap)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return cap_text(value, cap)
