"""Atomic counters in Redis, through the default cache's connection and key naming.

Django's ``cache.incr`` is two commands (EXISTS, then INCRBY): a key that expires between them is
created again by the INCRBY *without an expiry*, and from then on lives, and counts, for ever. For a
counter that must expire (a shared estimate refreshed every second, a per-minute quota window) that
is a slow leak that ends in wrong decisions, so each operation here is one Lua script: one round
trip, no window between the check and the write, and a key found without an expiry is given one.

Values are plain integers, as the cache's serializer stores ints, so ``cache.get`` reads them."""

from __future__ import annotations

from django.core.cache import cache

# KEYS[1]: the counter; ARGV[1]: delta; ARGV[2]: expiry in ms for a key that has none. Returns the
# new value, or nil (the key was absent and is left absent).
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""

# KEYS[1]: the window; ARGV[1]: amount; ARGV[2]: limit (0: none); ARGV[3]: expiry in ms. Adds the
# amount unless that takes the window past the limit; returns {1 if added else 0, value after}.
_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit > 0 and used + amount > limit then return {0, used} end
used = redis.call('INCRBY', KEYS[1], amount)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, used}
"""


# KEYS[1]: the counter. Its value, or nil when absent; a key found without an expiry is deleted (nil).
_GET_EXPIRING = """
local value = redis.call('GET', KEYS[1])
if value and redis.call('PTTL', KEYS[1]) == -1 then redis.call('DEL', KEYS[1]) return nil end
return value
"""


def _run(script: str, key: str, *args: int):
    full_key = cache.make_and_validate_key(key)
    client = cache._cache.get_client(full_key, write=True)  # the cache's own redis-py client and pool
    return client.eval(script, 1, full_key, *args)


def get_expiring(key: str) -> int | None:
    """The counter ``key``, or None when it is absent or has no expiry (then it is deleted: a count
    that never expires cannot be trusted to be fresh, so the caller counts again)."""
    value = _run(_GET_EXPIRING, key)
    return None if value is None else int(value)


def incr_existing(key: str, delta: int = 1, *, expire_seconds: float = 1) -> int | None:
    """Add ``delta`` to the counter ``key`` if it exists (its expiry kept; ``expire_seconds`` given to
    one that has none). Returns the new value, or None when the key was absent (left absent)."""
    value = _run(_INCR_EXISTING, key, delta, max(1, int(expire_seconds * 1000)))
    return None if value is None else int(value)


def take(key: str, amount: int, *, limit: int = 0, expire_seconds: float) -> tuple[bool, int]:
    """Add ``amount`` to the window counter ``key`` (created with ``expire_seconds``) unless that would
    take it past ``limit`` (0: no limit). Returns (added, the counter's value afterwards)."""
    added, used = _run(_TAKE, key, amount, limit, max(1, int(expire_seconds * 1000)))
    return bool(added), int(used)
