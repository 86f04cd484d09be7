"""Alerts raised by a check of an app above monitoring (for example a lifecycle watch), not by a metric.

Such a check owns one alert rule, found by its ``source`` key and created on first use (metric
"raised", no channels, enabled), which operations edit on the alerts page like any rule: rename it,
switch it off, give it a webhook or e-mail addresses. Each agent the check flags gets its own open
event of that rule (one at most: the partial unique index on rule and agent), shown on the overview
banner and the alerts page like a metric alert and delivered to the rule's channels by the same
delivery task (``monitoring.tasks.deliver_alert``), SSRF guard and failure record included.

The functions return what to deliver as ``(event id, kind)`` pairs; the caller enqueues them after
its transaction commits (services never import tasks). Monitoring knows the check only by its key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from agentops.models import Agent
from monitoring.alerts.models import AlertDelivery, AlertEvent, AlertMetric, AlertRule

Delivery = tuple[int, str]


def rule_for(source: str, name: str) -> AlertRule:
    """The rule of check ``source``, created (named ``name``, no channels) the first time."""
    rule, _ = AlertRule.objects.get_or_create(
        source=source,
        defaults={"name": name[:120], "metric": AlertMetric.RAISED, "threshold": Decimal(0), "window_minutes": 1,
                  "min_runs": 0, "enabled": True},
    )
    return rule


@transaction.atomic
def raise_alert(rule: AlertRule, agent: Agent, message: str, value: float, now: datetime | None = None
                ) -> list[Delivery]:
    """Open the rule's event for ``agent`` unless one is open (then its message and value are updated).
    A switched-off rule raises nothing. Returns the delivery of a newly opened event."""
    if not rule.enabled:
        return []
    now = now or timezone.now()
    event, created = AlertEvent.objects.get_or_create(
        rule=rule, agent=agent, resolved_at=None,
        defaults={"opened_at": now, "value": value, "last_value": value, "threshold": rule.threshold,
                  "message": message[:500]},
    )
    if not created:
        AlertEvent.objects.filter(pk=event.pk).update(last_value=value, message=message[:500])
        return []
    return [(event.id, AlertDelivery.Kind.OPENED)]


@transaction.atomic
def resolve_alerts(rule: AlertRule, keep_agent_ids: Iterable[int], now: datetime | None = None) -> list[Delivery]:
    """Resolve the rule's open events of every agent not in ``keep_agent_ids`` (their check cleared)."""
    now = now or timezone.now()
    events = list(AlertEvent.objects.select_for_update().filter(rule=rule, resolved_at__isnull=True)
                  .exclude(agent_id__in=list(keep_agent_ids)).values_list("id", flat=True))
    AlertEvent.objects.filter(pk__in=events, resolved_at__isnull=True).update(resolved_at=now)
    return [(event_id, AlertDelivery.Kind.RESOLVED) for event_id in events]
