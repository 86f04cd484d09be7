"""Lifecycle forms. Every rule produces a message next to the field it concerns."""

from __future__ import annotations

from dataclasses import asdict

from django import forms

from agentops.models import Agent, Department

from . import stages
from .criteria import FIELD_NAMES, Criteria
from .models import GATED_CHOICES, LifecycleSettings, StageCriteria

CHOICE_ERRORS = {"invalid_choice": "That choice no longer exists; pick one from the list."}


class InheritSelect(forms.NullBooleanSelect):
    """Yes / no / inherit, for a criterion's switch (blank inherits from the level above)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "inherit"), ("true", "required"), ("false", "not required")]


class BoardFilterForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.order_by("name"), required=False, empty_label="All departments",
        error_messages={"invalid_choice": "Unknown department; choose one from the list."},
    )


class PortfolioForm(forms.Form):
    days = forms.TypedChoiceField(choices=[(30, "last 30 days"), (90, "last 90 days"), (365, "last 365 days")],
                                  coerce=int, required=False, empty_value=30, label="Period")


class PromoteForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000,
                             help_text="Required with an override; recorded in the stage history.")
    override = forms.BooleanField(required=False, label="Override: promote although criteria fail")
    expected_stage = forms.ChoiceField(choices=[("", ""), *stages.LABELS.items()], required=False,
                                       widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("override") and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "An override needs a reason: say why the agent is promoted despite its criteria.")
        return cleaned


class DemoteForm(forms.Form):
    to_stage = forms.ChoiceField(label="Demote to", error_messages=CHOICE_ERRORS)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                             error_messages={"required": "A demotion needs a reason."})

    def __init__(self, *args, agent: Agent, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        suggested = stages.previous_stage(agent.lifecycle_stage)
        self.fields["to_stage"].choices = [(s, stages.label(s)) for s in stages.demotion_targets(agent.lifecycle_stage)]
        if suggested:
            self.fields["to_stage"].initial = suggested


class DecisionForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class CriteriaForm(forms.ModelForm):
    """The values of one criteria row; blank inherits (shown as the placeholder)."""

    class Meta:
        model = StageCriteria
        fields = list(FIELD_NAMES)
        widgets = {name: InheritSelect for name in FIELD_NAMES if name.startswith("check_")}

    def __init__(self, *args, inherited: Criteria | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in FIELD_NAMES:
            self.fields[name].required = False
        if inherited is not None:
            for name, value in asdict(inherited).items():
                if name.startswith("check_"):
                    label = "required" if value else "not required"
                    self.fields[name].widget.choices = [("unknown", f"inherit ({label})"),
                                                        ("true", "required"), ("false", "not required")]
                elif value is not None:
                    self.fields[name].widget.attrs["placeholder"] = f"{value}"

    def clean(self) -> dict:
        cleaned = super().clean()
        required, window = cleaned.get("slo_days_required"), cleaned.get("slo_days_window")
        if required is not None and window is not None and required > window:
            self.add_error("slo_days_required", f"Cannot require more days ({required}) than the last {window}.")
        return cleaned


class OverrideForm(CriteriaForm):
    """An override of a stage's criteria for one department or one agent."""

    class Meta(CriteriaForm.Meta):
        fields = ["stage", "department", "agent", *FIELD_NAMES]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = GATED_CHOICES
        self.fields["stage"].required = True
        self.fields["department"].empty_label = "—"
        self.fields["agent"].empty_label = "—"
        self.fields["agent"].queryset = Agent.objects.order_by("name")
        self.fields["department"].queryset = Department.objects.order_by("name")
        self.fields["department"].error_messages.update(CHOICE_ERRORS)
        self.fields["agent"].error_messages.update(CHOICE_ERRORS)

    def clean(self) -> dict:
        cleaned = super().clean()
        dept, agent, stage = cleaned.get("department"), cleaned.get("agent"), cleaned.get("stage")
        if bool(dept) == bool(agent):
            self.add_error("department", "Choose either a department or an agent (exactly one).")
            return cleaned
        clash = StageCriteria.objects.filter(stage=stage, department=dept, agent=agent).exclude(pk=self.instance.pk)
        if stage and clash.exists():
            self.add_error("stage", f"{(dept or agent)} already has an override for {stages.label(stage)}; edit it.")
        return cleaned


class SettingsForm(forms.ModelForm):
    class Meta:
        model = LifecycleSettings
        fields = ["require_second_approver", "watch_days"]
