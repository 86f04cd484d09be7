"""Filters of the run explorer and of an agent's runs page."""

from __future__ import annotations

from django import forms

from agentops.models import Agent
from monitoring.ingest.models import RunStatus


class FilterForm(forms.Form):
    """A GET filter form whose labels read like the time-range ones beside them: "Agent", not
    "Agent:" (Django's default suffix is set per instance, so a class attribute cannot change it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RunFilterForm(FilterForm):
    """The run explorer's filters; every field is optional and arrives in the query string."""

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


DIRECT = "direct"


class AgentRunFilterForm(FilterForm):
    """Filters of one agent's runs (its invocations, at the top of a trace or inside another agent's);
    every field is optional and arrives in the query string. ``caller``: "direct" (the top of a
    trace) or the slug of the agent that invoked it."""

    caller = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=[("", "any status"), *RunStatus.choices], required=False)
    error_type = forms.CharField(max_length=255, required=False)
    prompt_version = forms.CharField(max_length=64, required=False)
    min_latency_ms = forms.FloatField(min_value=0, required=False, label="Min latency (ms)")
    escalated = forms.ChoiceField(choices=[("", "either"), ("yes", "escalated"), ("no", "not escalated")],
                                  required=False, label="Escalation")

    def __init__(self, *args, callers=None, **kwargs):
        """``callers``: the agents offered as callers (the user's departments'); every agent by default."""
        super().__init__(*args, **kwargs)
        callers = Agent.objects.all() if callers is None else callers
        self.fields["caller"].choices = [("", "any caller"), (DIRECT, "direct (top of a trace)")] + [
            (slug, f"via {name}") for slug, name in callers.order_by("name").values_list("slug", "name")
        ]
