"""A Redis cache serializer that stores tagged JSON, never pickle.

Django's default Redis serializer unpickles whatever it reads, so anyone who can write to Redis can
run code in every web and worker process. This one only builds plain data: JSON with a few tagged
types (tuple, Decimal, datetime, date, set, bytes, dicts with non-string keys). Integers are stored
bare, as Django's own serializer does, so ``incr``/``decr`` stay atomic.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_TAG = "\x00t"  # a key no JSON object of ours uses: marks a tagged value


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: _encode(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, set | frozenset):
        return {_TAG: "set", "v": [_encode(v) for v in value]}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "v": base64.b64encode(value).decode()}
    raise TypeError(f"the cache stores plain data only, not {type(value).__name__}")


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


# Tagged values, decoded by json's object_hook: it is called for every JSON object, innermost first,
# so a tagged value's parts are already decoded and plain objects and every scalar cost nothing more.
_DECODERS = {
    "tuple": tuple,
    "dict": lambda v: {_freeze(k): x for k, x in v},
    "decimal": Decimal,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "set": set,
    "bytes": base64.b64decode,
}


def _object_hook(value: dict) -> Any:
    tag = value.get(_TAG)
    return value if tag is None else _DECODERS[tag](value["v"])


class JSONSerializer:
    """``dumps``/``loads`` for django.core.cache.backends.redis.RedisCache (OPTIONS["serializer"])."""

    def dumps(self, obj: Any) -> bytes | int:
        if type(obj) is int:
            return obj
        return json.dumps(_encode(obj), separators=(",", ":"), allow_nan=True).encode()

    def loads(self, data: bytes) -> Any:
        try:
            return int(data)
        except ValueError:
            return json.loads(data, object_hook=_object_hook)
