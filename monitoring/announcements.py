"""The one channel from monitoring to higher apps (handoffs, insights, roi): stored telemetry is
announced to receivers those apps register.

Two topics, each announced with a list of primary keys:

- ``RUNS_RECORDED``: ``monitoring.Run`` ids created or updated by an ingest transaction (or by feedback);
- ``ESCALATIONS_RECORDED``: ``monitoring.Escalation`` ids newly stored or seen again.

A higher app registers in its ``AppConfig.ready()``::

    from monitoring.announcements import ESCALATIONS_RECORDED, receiver

    @receiver(ESCALATIONS_RECORDED, "handoffs.open_tickets_for_escalations")
    def open_tickets(ids: list[int]) -> None:
        ...

Delivery happens after the telemetry is committed, never inside the ingest transaction: ingest
writes the ids into an outbox row (``monitoring.Announcement``) in its own transaction, and a Celery
task delivers the row once it has committed (``monitoring/ingest/outbox.py``; the beat delivers what
a dead process left behind). So a slow or failing receiver cannot hold up or dead-letter telemetry.
Each receiver runs in its own savepoint; a failing one is logged and the row is retried later for
every receiver, then kept as failed with the error (shown on the dead-letters page). Receivers must
therefore be idempotent: they can see the same ids twice (a retry, a replayed batch).
"""

from __future__ import annotations

from collections.abc import Callable

RUNS_RECORDED = "runs_recorded"
ESCALATIONS_RECORDED = "escalations_recorded"
TOPICS = (RUNS_RECORDED, ESCALATIONS_RECORDED)  # delivery order

Receiver = Callable[[list[int]], None]

_receivers: dict[str, dict[str, Receiver]] = {topic: {} for topic in TOPICS}


def register(topic: str, name: str, function: Receiver) -> None:
    """Register ``function`` for ``topic`` under ``name`` (a second registration under a name
    replaces the first, so importing a module twice registers once)."""
    if topic not in _receivers:
        raise ValueError(f"unknown topic {topic!r}; one of {', '.join(TOPICS)}")
    _receivers[topic][name] = function


def unregister(topic: str, name: str) -> None:
    _receivers[topic].pop(name, None)


def receiver(topic: str, name: str) -> Callable[[Receiver], Receiver]:
    """Decorator form of ``register``."""
    def decorate(function: Receiver) -> Receiver:
        register(topic, name, function)
        return function
    return decorate


def receivers(topic: str) -> list[tuple[str, Receiver]]:
    """The receivers of ``topic`` in registration order, with their names."""
    return list(_receivers[topic].items())
