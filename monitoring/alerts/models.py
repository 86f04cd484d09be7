"""Alert rules, alert events and notification deliveries (live monitoring)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agentops.formatting import shown_latency_ms


class AlertMetric(models.TextChoices):
    # The value each rule compares is defined in docs/metrics.md; "above"/"below" is fixed per metric.
    P95_LATENCY = "p95_latency_ms", "p95 latency (ms) above"
    SUCCESS_RATE = "success_rate", "success rate (%) below"
    QUALITY = "quality", "quality score (0-1) below"
    ERROR_RATE = "error_rate", "error rate (%) above"
    ESCALATION_RATE = "escalation_rate", "escalation rate (%) above"
    COST_PER_RUN = "cost_per_run", "cost per run (USD) above"
    BURN_RATE = "burn_rate", "error-budget burn rate above"
    # Not a metric: the rule's alerts are raised and resolved by a check of another app through
    # monitoring.alerts.raised (the rule's ``source`` names the check); rule evaluation skips it.
    RAISED = "raised", "raised by a check"


# Metrics that fire when the value falls *below* the threshold; all others fire above it.
BELOW_METRICS = frozenset({AlertMetric.SUCCESS_RATE, AlertMetric.QUALITY})


# The precision alert values are shown with (monitoring.alerts.services.format_metric) and compared at.
SHOWN_QUANTUM = {
    AlertMetric.SUCCESS_RATE: Decimal("0.1"), AlertMetric.ERROR_RATE: Decimal("0.1"),
    AlertMetric.ESCALATION_RATE: Decimal("0.1"), AlertMetric.QUALITY: Decimal("0.001"),
    AlertMetric.COST_PER_RUN: Decimal("0.0001"), AlertMetric.BURN_RATE: Decimal("0.1"),
}


def shown(metric: str, value: float | Decimal) -> Decimal:
    """``value`` rounded as it is displayed for ``metric``."""
    if metric == AlertMetric.P95_LATENCY:
        return shown_latency_ms(value)
    return Decimal(str(value)).quantize(SHOWN_QUANTUM.get(metric, Decimal("0.000001")), rounding=ROUND_HALF_UP)


class AlertRule(models.Model):
    name = models.CharField(max_length=120)
    agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="alert_rules", help_text="Leave empty for the whole fleet.")
    metric = models.CharField(max_length=20, choices=AlertMetric.choices)
    threshold = models.DecimalField(max_digits=14, decimal_places=6, validators=[MinValueValidator(0)])
    window_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="The rule looks at runs started in the last N minutes.",
    )
    min_runs = models.PositiveIntegerField(
        default=5, help_text="Do not judge a window with fewer runs than this (avoids alerts on noise)."
    )
    enabled = models.BooleanField(default=True)
    webhook_url = models.URLField(blank=True, help_text="POSTed a JSON body when the alert opens or resolves.")
    email_to = models.CharField(max_length=500, blank=True, help_text="Comma-separated addresses.")
    source = models.CharField(
        max_length=60, blank=True, default="",
        help_text="The check that raises this rule's alerts (metric “raised”); empty for metric rules.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["source"], condition=~models.Q(source=""), name="alert_rule_one_per_source"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_raised(self) -> bool:
        """Alerts raised by another app's check, not evaluated from a metric."""
        return self.metric == AlertMetric.RAISED

    @property
    def fires_below(self) -> bool:
        return self.metric in BELOW_METRICS

    def breaches(self, value: float) -> bool:
        """Compared at the precision the value and threshold are shown with (``shown``), so a message
        never reads "quality 0.800 below the threshold 0.800"."""
        value, limit = shown(self.metric, value), shown(self.metric, self.threshold)
        return value < limit if self.fires_below else value > limit

    def email_list(self) -> list[str]:
        return [a.strip() for a in self.email_to.split(",") if a.strip()]

    @property
    def has_channel(self) -> bool:
        """A webhook or an e-mail address to notify (else the rule shows on the pages only)."""
        return bool(self.webhook_url or self.email_list())


class AlertEvent(models.Model):
    """One firing of a rule: opened when the value breaches, resolved when it recovers."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="alert_events")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(help_text="The metric's value when the alert opened.")
    last_value = models.FloatField(null=True, blank=True)
    threshold = models.DecimalField(max_digits=14, decimal_places=6)
    message = models.CharField(max_length=500)
    # Someone is on it (acknowledged) or it may wait (snoozed until then: off the overview banner and
    # out of the severity order, still listed on the alerts page). Neither closes the event.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    snoozed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # One open event per rule and agent (a metric rule has one agent or the fleet; a raised
            # rule has one per agent its check flags): NULL (the fleet) counts as one value.
            models.UniqueConstraint(fields=["rule", "agent"], condition=models.Q(resolved_at__isnull=True),
                                    nulls_distinct=False, name="alert_one_open_event_per_rule_agent"),
        ]
        indexes = [models.Index(fields=["agent", "-opened_at"], name="alert_event_agent_idx")]

    def __str__(self) -> str:
        return self.message

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def is_snoozed(self, now=None) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > (now or timezone.now())


class AlertDelivery(models.Model):
    """A notification attempt, kept so operators can see whether their webhook and mail work."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "E-mail"

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(AlertEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=500)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} to {self.target}: {'ok' if self.ok else 'failed'}"
