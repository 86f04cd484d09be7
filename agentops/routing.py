"""Which prompt version a request gets while a candidate is rolled out (pure; no ORM).

The split is by a stable hash of the agent and a routing key the caller chooses (a session or
conversation id, a customer id): the same key always gets the same version, so one conversation
never flips between prompts, and the share of keys that get the candidate is the rollout's share.
"""

from __future__ import annotations

import hashlib


def bucket(agent_slug: str, routing_key: str) -> int:
    """0..99, uniform over keys, stable across processes and releases (unlike ``hash()``)."""
    digest = hashlib.sha256(f"{agent_slug}\x1f{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def gets_candidate(agent_slug: str, routing_key: str, share: int) -> bool:
    """True when this key falls in the candidate's ``share`` % (0 = never, 100 = always)."""
    return bucket(agent_slug, routing_key) < share
