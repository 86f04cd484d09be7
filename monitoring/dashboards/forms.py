"""Run explorer filters."""

from __future__ import annotations

from django import forms

from agentops.models import Agent
from monitoring.ingest.models import RunStatus


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
