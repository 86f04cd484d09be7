"""A simulated trace before it is emitted: a tree of span plans with explicit times (``demo.simulator``
builds them, ``demo.emitters`` sends them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitoring.intake.normalize import STATUS_ERROR, STATUS_UNSET


@dataclass
class SpanPlan:
    name: str
    start: datetime
    duration_ms: float
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    status: int = STATUS_UNSET
    status_message: str = ""
    children: list[SpanPlan] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.duration_ms)

    def fail(self, error_type: str, message: str) -> None:
        self.status, self.status_message = STATUS_ERROR, message
        self.attributes["error.type"] = error_type
        self.events.append(("exception", self.end, {"exception.type": error_type, "exception.message": message}))

    def walk(self) -> Iterator[SpanPlan]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class TracePlan:
    service: str  # resource service.name: the top-level agent's process
    root: SpanPlan

    def end_at(self, moment: datetime) -> TracePlan:
        """Shift every timestamp so the run ends at ``moment`` (live traffic never ends in the future)."""
        delta = self.root.end - moment
        for node in self.root.walk():
            node.start -= delta
            node.events = [(name, at - delta, attrs) for name, at, attrs in node.events]
        return self
