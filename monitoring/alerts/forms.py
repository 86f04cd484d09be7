"""The alert rule form."""

from __future__ import annotations

from django import forms

from agentops import outbound
from monitoring.alerts.models import AlertMetric, AlertRule


class ChannelsMixin(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https", label="Webhook URL",
                                 help_text=AlertRule._meta.get_field("webhook_url").help_text)

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                outbound.check_url(url)
            except outbound.OutboundRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return url

    def clean_email_to(self) -> str:
        value = self.cleaned_data["email_to"]
        validator = forms.EmailField()
        for address in [a.strip() for a in value.split(",") if a.strip()]:
            try:
                validator.clean(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(f"“{address}” is not an e-mail address.") from exc
        return value


class RaisedRuleForm(ChannelsMixin):
    """A rule whose alerts a check raises: only its name, switch and channels are edited here."""

    class Meta:
        model = AlertRule
        fields = ["name", "enabled", "webhook_url", "email_to"]


class AlertRuleForm(ChannelsMixin):
    class Meta:
        model = AlertRule
        fields = ["name", "agent", "metric", "threshold", "window_minutes", "min_runs", "enabled", "webhook_url",
                  "email_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "raised" rules are created by the check that raises them, never by hand.
        self.fields["metric"].choices = [c for c in self.fields["metric"].choices if c[0] != AlertMetric.RAISED]

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
