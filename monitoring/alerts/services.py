"""Alert evaluation (thresholds and SLO burn rate over rollups) and delivery (webhook, e-mail).

``evaluate_rules`` runs every minute from Celery beat. Each enabled rule is judged on the rollup
cells of its window; a breach opens one event per rule (a partial unique index guarantees at most one
open event), recovery resolves it. Notifications are enqueued with ``transaction.on_commit`` so a
rolled-back evaluation never notifies anyone.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from agentops import formatting, outbound
from monitoring.alerts.models import BELOW_METRICS, AlertDelivery, AlertEvent, AlertMetric, AlertRule, shown
from monitoring.rollups.queries import Summary, burn_rate, metric_value, summaries
from monitoring.timerange import TimeRange

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Evaluation:
    opened: int = 0
    resolved: int = 0
    judged: int = 0
    # (event id, delivery kind) for each event opened or resolved (committed): the task delivers them.
    deliveries: tuple[tuple[int, str], ...] = ()


def rule_value(rule: AlertRule, summary: Summary) -> float | None:
    """The rule's metric over the window; None when there are too few runs to judge."""
    if summary.runs < max(rule.min_runs, 1):
        return None
    if rule.metric == AlertMetric.BURN_RATE:
        return burn_rate(rule.agent, summary) if rule.agent else None
    return metric_value(summary, rule.metric)


def _window_summaries(rules: list[AlertRule], now: datetime) -> dict[tuple[int, int | None], Summary]:
    """Summaries keyed by (window minutes, agent id or None for the fleet): two queries per window."""
    by_window: dict[int, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        by_window[rule.window_minutes].append(rule)
    result: dict[tuple[int, int | None], Summary] = {}
    for minutes, window_rules in by_window.items():
        window = TimeRange("custom", now - timedelta(minutes=minutes), now)
        agent_ids = sorted({r.agent_id for r in window_rules if r.agent_id})
        if agent_ids:
            current, _ = summaries(window, agent_ids, with_previous=False, now=now)
            result.update({(minutes, a): current.get(a, Summary()) for a in agent_ids})
        if any(r.agent_id is None for r in window_rules):
            current, _ = summaries(window, None, with_previous=False, now=now)
            result[(minutes, None)] = current.get(None, Summary())
    return result


_NOUNS = {AlertMetric.P95_LATENCY: "p95 latency", AlertMetric.SUCCESS_RATE: "success rate",
          AlertMetric.QUALITY: "quality score", AlertMetric.ERROR_RATE: "error rate",
          AlertMetric.ESCALATION_RATE: "escalation rate", AlertMetric.COST_PER_RUN: "cost per run",
          AlertMetric.BURN_RATE: "error-budget burn rate"}


def format_metric(metric: str, value: float | Decimal | None) -> str:
    """A metric's value the way people read it (33.90 s, 81.1 %, 0.775, $0.0123, 14.4x), rounded
    exactly as ``AlertRule.breaches`` compares it."""
    if value is None:
        return "–"
    if metric == AlertMetric.P95_LATENCY:
        return formatting.format_latency(value)
    value = shown(metric, value)
    if metric in (AlertMetric.SUCCESS_RATE, AlertMetric.ERROR_RATE, AlertMetric.ESCALATION_RATE):
        return f"{value:,.1f} %"
    if metric == AlertMetric.QUALITY:
        return f"{value:.3f}"
    if metric == AlertMetric.COST_PER_RUN:
        return f"${value:,.4f}"
    if metric == AlertMetric.RAISED:
        return formatting.format_count(value)
    return f"{value:,.1f}x"


def _message(rule: AlertRule, value: float) -> str:
    direction = "below" if rule.metric in BELOW_METRICS else "above"
    who = rule.agent.name if rule.agent else "fleet"
    return (f"{rule.name}: {who} {_NOUNS.get(rule.metric, rule.metric)} {format_metric(rule.metric, value)} "
            f"over the last {rule.window_minutes} min, {direction} the threshold "
            f"{format_metric(rule.metric, rule.threshold)}")[:500]


def evaluate_rules(now: datetime | None = None) -> Evaluation:
    """Open or resolve one event per enabled rule according to its current value."""
    now = now or timezone.now()
    rules = list(AlertRule.objects.filter(enabled=True).exclude(metric=AlertMetric.RAISED).select_related("agent"))
    values = _window_summaries(rules, now)
    open_events = {e.rule_id: e for e in AlertEvent.objects.filter(resolved_at__isnull=True, rule__in=rules)}
    judged = 0
    deliveries: list[tuple[int, str]] = []
    for rule in rules:
        value = rule_value(rule, values[(rule.window_minutes, rule.agent_id)])
        if value is None:
            continue
        judged += 1
        event = open_events.get(rule.id)
        if rule.breaches(value) and event is None:
            opened_id = _open(rule, value, now)
            if opened_id is not None:
                deliveries.append((opened_id, AlertDelivery.Kind.OPENED))
        elif event is not None and _update_or_resolve(event, rule, value, now):
            deliveries.append((event.id, AlertDelivery.Kind.RESOLVED))
    kinds = [kind for _, kind in deliveries]
    return Evaluation(kinds.count(AlertDelivery.Kind.OPENED), kinds.count(AlertDelivery.Kind.RESOLVED), judged,
                      tuple(deliveries))


@transaction.atomic
def _open(rule: AlertRule, value: float, now: datetime) -> int | None:
    """The new event's id, or None when one was open already."""
    # A concurrent evaluation may have opened it already: the partial unique index decides.
    event, created = AlertEvent.objects.get_or_create(
        rule=rule, resolved_at=None,
        defaults={"agent": rule.agent, "opened_at": now, "value": value, "last_value": value,
                  "threshold": rule.threshold, "message": _message(rule, value)},
    )
    return event.id if created else None


@transaction.atomic
def _update_or_resolve(event: AlertEvent, rule: AlertRule, value: float, now: datetime) -> int:
    """1 when this call resolved the event."""
    if rule.breaches(value):
        AlertEvent.objects.filter(pk=event.pk).update(last_value=value)
        return 0
    updated = AlertEvent.objects.filter(pk=event.pk, resolved_at__isnull=True).update(
        resolved_at=now, last_value=value)
    return updated


# ---------------------------------------------------------------------------------------------
# Delivery


def _payload(rule: AlertRule, kind: str, event: AlertEvent | None) -> dict:
    agent = event.agent if event is not None and event.agent_id else rule.agent
    base = {"kind": kind, "rule": rule.name, "metric": rule.metric, "threshold": str(rule.threshold),
            "window_minutes": rule.window_minutes, "agent": agent.slug if agent else None}
    if rule.source:
        base["source"] = rule.source
    if event is not None:
        base.update({"message": event.message, "value": event.value, "last_value": event.last_value,
                     "opened_at": event.opened_at.isoformat(),
                     "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None})
    else:
        base["message"] = f"Test notification for alert rule “{rule.name}”."
    return base


def _send_webhook(url: str, payload: dict) -> None:
    outbound.post_json(url, payload, timeout=WEBHOOK_TIMEOUT_SECONDS, headers={"User-Agent": "agentops-alerts"})


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_safe(text: str) -> str:
    """Text for a mail header: agent and rule names come from telemetry and users, and a newline in a
    header is refused by Django (BadHeaderError) or, worse, would start another header."""
    return _CONTROL.sub(" ", text).strip()


def _send_email(addresses: list[str], payload: dict) -> None:
    subject = header_safe(f"[AgentOps] {payload['kind']}: {payload['message']}")[:200]
    body = json.dumps(payload, indent=2)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, addresses, fail_silently=False)


def deliver(rule: AlertRule, kind: str, event: AlertEvent | None = None) -> list[AlertDelivery]:
    """Send the notification on every channel of the rule; each attempt is recorded, failures too."""
    payload = _payload(rule, kind, event)
    attempts: list[tuple[str, str, object]] = []
    if rule.webhook_url:
        attempts.append((AlertDelivery.Channel.WEBHOOK, rule.webhook_url, lambda: _send_webhook(rule.webhook_url,
                                                                                               payload)))
    if rule.email_list():
        attempts.append((AlertDelivery.Channel.EMAIL, ", ".join(rule.email_list()),
                         lambda: _send_email(rule.email_list(), payload)))
    deliveries = []
    for channel, target, send in attempts:
        error = ""
        try:
            send()
        except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
            error = str(exc)[:2000]
        except Exception as exc:  # noqa: BLE001 - SMTP, bad headers, anything: recorded, never lost
            error = f"{exc.__class__.__name__}: {exc}"[:2000]
        if error:
            logger.warning("alert delivery to %s failed: %s", target, error)
        deliveries.append(AlertDelivery.objects.create(rule=rule, event=event, kind=kind, channel=channel,
                                                       target=target[:500], ok=not error, error=error))
    return deliveries


def deliver_event(event_id: int, kind: str) -> list[AlertDelivery]:
    event = AlertEvent.objects.select_related("rule__agent", "agent").filter(pk=event_id).first()
    if event is None:
        return []
    return deliver(event.rule, kind, event)


SNOOZE_HOURS = (1, 4, 24)


def acknowledge_event(event_id: int, user, now: datetime | None = None) -> AlertEvent:
    """Mark an open alert as being looked at, by whom; acknowledging twice keeps the first."""
    now = now or timezone.now()
    updated = AlertEvent.objects.filter(pk=event_id, resolved_at__isnull=True, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user)
    event = AlertEvent.objects.get(pk=event_id)
    if not updated and event.resolved_at is not None:
        raise ValueError("This alert has already resolved.")
    return event


def snooze_event(event_id: int, user, hours: int, now: datetime | None = None) -> AlertEvent:
    """Hide an open alert from the overview for ``hours`` (it stays on the alerts page); acknowledges it."""
    if hours not in SNOOZE_HOURS:
        raise ValueError(f"Snooze for {', '.join(map(str, SNOOZE_HOURS))} hours.")
    now = now or timezone.now()
    acknowledge_event(event_id, user, now)
    AlertEvent.objects.filter(pk=event_id, resolved_at__isnull=True).update(snoozed_until=now + timedelta(hours=hours))
    return AlertEvent.objects.get(pk=event_id)
