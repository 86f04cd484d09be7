"""Filter and action forms of the insights pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from agentops.models import Agent, Department
from agentops.permissions import OPERATIONS
from handoffs.models import RootCause
from monitoring.timerange import TimeRangeForm


class RangeForm(TimeRangeForm):
    """The insights pages' range: the shared time range, last 7 days by default."""

    default_range = "7d"


class RootCauseFilterForm(RangeForm):
    agent = forms.ModelChoiceField(queryset=Agent.objects.all(), to_field_name="slug", required=False,
                                   empty_label="All agents")


class CompareRangeForm(RangeForm):
    default_range = "30d"


class CompareForm(RangeForm):
    """Two prompt-version keys (see insight_queries.prompt_key); blank shows every version."""

    default_range = "30d"
    a = forms.CharField(required=False, max_length=80, label="Version A")
    b = forms.CharField(required=False, max_length=80, label="Version B")

    def __init__(self, *args, version_choices: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "All versions"), *(version_choices or [])]
        self.fields["a"].widget = forms.Select(choices=choices)
        self.fields["b"].widget = forms.Select(choices=choices)
        self._keys = {key for key, _label in version_choices or []}

    def clean(self):
        data = super().clean()
        a, b = data.get("a"), data.get("b")
        for name in ("a", "b"):
            if data.get(name) and data[name] not in self._keys:
                self.add_error(name, "This version has no runs in the chosen range.")
        if bool(a) != bool(b):
            raise forms.ValidationError("Pick two versions to compare, or leave both blank to see all.")
        if a and a == b:
            raise forms.ValidationError("Pick two different versions.")
        return data


EDGE_SORT_CHOICES = (("calls", "Calls"), ("failure_rate", "Failure rate"), ("p95", "p95 latency"),
                     ("cost_per_call", "Cost per call"), ("source", "Source"), ("target", "Target"),
                     ("kind", "Kind"))


class MapFilterForm(RangeForm):
    department = forms.ModelChoiceField(queryset=Department.objects.all(), required=False,
                                        empty_label="All departments")
    sort = forms.ChoiceField(choices=EDGE_SORT_CHOICES, required=False)
    dir = forms.ChoiceField(choices=(("desc", "descending"), ("asc", "ascending")), required=False)


def operations_users():
    return get_user_model().objects.filter(groups__name=OPERATIONS).order_by("username")


def root_cause_choices(current: RootCause | None = None):
    """The taxonomy's active causes, plus the group's current one if it has since been retired."""
    keep = Q(is_active=True) | (Q(pk=current.pk) if current is not None else Q(pk__in=[]))
    return RootCause.objects.filter(keep)


class MarkGroupForm(forms.Form):
    root_cause = forms.ModelChoiceField(queryset=RootCause.objects.none(), required=False,
                                        empty_label="— not yet known —")
    owner = forms.ModelChoiceField(queryset=operations_users(), required=False, empty_label="— nobody —")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)

    def __init__(self, *args, current_cause: RootCause | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["root_cause"].queryset = root_cause_choices(current_cause)
        self.fields["root_cause"].label_from_instance = (
            lambda c: c.name if c.is_active else f"{c.name} (retired)")
        self.fields["owner"].queryset = operations_users()
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username

    def clean(self):
        data = super().clean()
        if not (data.get("root_cause") or data.get("owner") or (data.get("note") or "").strip()):
            raise forms.ValidationError("Give a root cause, an owner or a note.")
        return data


class DraftFromGroupForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), to_field_name="slug",
                                   help_text="The agent whose prompt the draft changes.")
    change_note = forms.CharField(max_length=500, required=False, label="What should change")

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents if agents is not None else Agent.objects.all()


class DraftFromTicketForm(forms.Form):
    change_note = forms.CharField(max_length=500, required=False)
