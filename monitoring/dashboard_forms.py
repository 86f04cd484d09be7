"""Forms of the monitoring pages: run explorer filters and alert rules."""

from __future__ import annotations

from django import forms

from agentops.models import Agent

from .alert_models import AlertMetric, AlertRule
from .models import RunStatus


class RunFilterForm(forms.Form):
    """The run explorer's filters; every field is optional and arrives in the query string."""

    label_suffix = ""  # labels read like the time-range ones beside them: "Agent", not "Agent:"

    agent = forms.ModelChoiceField(queryset=Agent.objects.order_by("name"), required=False, to_field_name="slug",
                                   empty_label="all agents")
    status = forms.ChoiceField(choices=[("", "any status"), *RunStatus.choices], required=False)
    error_type = forms.CharField(max_length=255, required=False)
    model = forms.CharField(max_length=120, required=False)
    prompt_version = forms.CharField(max_length=64, required=False)
    session = forms.CharField(max_length=255, required=False)
    min_latency_ms = forms.FloatField(min_value=0, required=False, label="Min latency (ms)")
    min_cost = forms.DecimalField(min_value=0, max_digits=14, decimal_places=6, required=False,
                                  label="Min cost (USD)")
    has_escalation = forms.ChoiceField(choices=[("", "either"), ("yes", "escalated"), ("no", "not escalated")],
                                       required=False, label="Escalation")


class AlertRuleForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https", label="Webhook URL",
                                 help_text=AlertRule._meta.get_field("webhook_url").help_text)

    class Meta:
        model = AlertRule
        fields = ["name", "agent", "metric", "threshold", "window_minutes", "min_runs", "enabled", "webhook_url",
                  "email_to"]

    def clean_email_to(self) -> str:
        value = self.cleaned_data["email_to"]
        validator = forms.EmailField()
        for address in [a.strip() for a in value.split(",") if a.strip()]:
            try:
                validator.clean(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(f"“{address}” is not an e-mail address.") from exc
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        agent, metric = cleaned.get("agent"), cleaned.get("metric")
        if metric == AlertMetric.BURN_RATE and (agent is None or agent.slo_min_success_rate is None):
            self.add_error("agent", "A burn-rate rule needs an agent with a minimum success rate SLO "
                                    "(the error budget comes from it).")
        threshold = cleaned.get("threshold")
        if metric in (AlertMetric.SUCCESS_RATE, AlertMetric.ERROR_RATE, AlertMetric.ESCALATION_RATE) and \
                threshold is not None and threshold > 100:
            self.add_error("threshold", "A rate is a percentage between 0 and 100.")
        if metric == AlertMetric.QUALITY and threshold is not None and threshold > 1:
            self.add_error("threshold", "Quality scores run from 0 to 1.")
        return cleaned
