"""Forms for ticket actions (each carries the ticket version it was rendered with), filters and
queue / taxonomy configuration."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.utils.text import slugify

from monitoring.timerange import TimeRangeForm

from .models import Outcome, Priority, Queue, RootCause, SavedReply, TicketStatus
from .queries import TicketFilters, reviewer_choices


class TicketFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("active", "All active"), (TicketStatus.OPEN, "Open"), (TicketStatus.CLAIMED, "Claimed"),
                 (TicketStatus.PENDING, "Pending")],
    )
    agent = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[])
    reason = forms.CharField(required=False, max_length=100)
    priority = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[("", "Any")] + list(Priority.choices)
    )

    def __init__(self, *args, agent_choices: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = [("", "Any agent")] + list(agent_choices)

    def filters(self) -> TicketFilters:
        data = self.cleaned_data
        return TicketFilters(
            status=data.get("status") or "active", agent=data.get("agent"),
            reason=(data.get("reason") or "").strip(), priority=data.get("priority"),
        )


class VersionedForm(forms.Form):
    """Every ticket write names the version the actor saw (optimistic locking)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class NoteField(forms.CharField):
    def __init__(self, label: str = "Note", required: bool = False, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(label=label, required=required, max_length=5000, **kwargs)


class ClaimForm(VersionedForm):
    pass


class RenewForm(VersionedForm):
    pass


class ResumeForm(VersionedForm):
    pass


class ReleaseForm(VersionedForm):
    note = NoteField()


class NoteForm(VersionedForm):
    note = NoteField(required=True)


class PendingForm(VersionedForm):
    until = forms.DateTimeField(
        label="Wake up at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="The SLA clock stops until then; the ticket comes back to you.",
    )
    note = NoteField()


class ResolveForm(VersionedForm):
    outcome = forms.ChoiceField(choices=[("", "Choose an outcome")] + list(Outcome.choices))
    root_cause = forms.ModelChoiceField(queryset=RootCause.objects.filter(is_active=True), empty_label="Choose a root cause")
    corrected_answer = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=20000,
        help_text="Required when the outcome is a corrected agent answer.",
    )
    note = NoteField()

    def clean(self):
        data = super().clean()
        if data.get("outcome") == Outcome.CORRECTED_AGENT_ANSWER and not (data.get("corrected_answer") or "").strip():
            self.add_error("corrected_answer", "Give the corrected answer.")
        return data


class ReopenForm(VersionedForm):
    note = NoteField(label="Why reopen?", required=True)


class ReassignForm(VersionedForm):
    to_user = forms.ModelChoiceField(
        queryset=reviewer_choices(), required=False, label="Assign to", empty_label="Back to the queue (unassigned)"
    )
    note = NoteField()


class CancelForm(VersionedForm):
    note = NoteField(label="Why cancel?", required=True)


class PriorityForm(VersionedForm):
    priority = forms.TypedChoiceField(coerce=int, choices=Priority.choices, label="New priority")
    note = NoteField()


class BulkForm(forms.Form):
    """Operations' bulk action over the tickets ticked on a queue page; each ticket carries its
    version (``<id>:<version>``) so a ticket that changed since the page was loaded is skipped."""

    tickets = forms.MultipleChoiceField(choices=[], label="Tickets")
    action = forms.ChoiceField(choices=[("reassign", "Reassign"), ("cancel", "Cancel"), ("priority", "Change priority")])
    to_user = forms.ModelChoiceField(
        queryset=reviewer_choices(), required=False, label="Assign to", empty_label="Back to the queue (unassigned)"
    )
    priority = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="New priority",
                                      choices=[("", "—")] + list(Priority.choices))
    note = NoteField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tickets"].choices = [(v, v) for v in self.data.getlist("tickets")] if self.is_bound else []

    def clean_tickets(self) -> list[tuple[int, int]]:
        items = []
        for value in self.cleaned_data["tickets"]:
            pk, sep, version = value.partition(":")
            if not (sep and pk.isdigit() and version.isdigit()):
                raise forms.ValidationError(f"{value!r} is not a ticket and version.")
            items.append((int(pk), int(version)))
        return items

    def clean(self):
        data = super().clean()
        if data.get("action") == "priority" and not data.get("priority"):
            self.add_error("priority", "Choose the new priority.")
        if data.get("action") == "cancel" and not (data.get("note") or "").strip():
            self.add_error("note", "Say why the tickets are cancelled.")
        return data


class SearchForm(forms.Form):
    q = forms.CharField(label="Search tickets", max_length=200, required=False,
                        help_text="Ticket number, trace or session id, or words from the reason, summary or agent.")
    status = forms.ChoiceField(required=False, choices=[("", "Any status")] + list(TicketStatus.choices))


class MetricsForm(TimeRangeForm):
    """Queue metrics: the shared time range (last 30 days by default) and a queue."""

    default_range = "30d"
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), required=False, to_field_name="slug",
                                   empty_label="All queues")


class ListField(forms.CharField):
    """Comma-separated text <-> list of strings."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [part.strip().lower() for part in text.split(",") if part.strip()]


class ReasonPrioritiesField(forms.CharField):
    """One ``reason = priority`` per line, priority 1 (urgent) .. 4 (low)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k} = {v}" for k, v in value.items())
        return value

    def to_python(self, value) -> dict[str, int]:
        text = super().to_python(value) or ""
        rules: dict[str, int] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            reason, sep, prio = line.rpartition("=")
            if not sep or not reason.strip() or prio.strip() not in {"1", "2", "3", "4"}:
                raise forms.ValidationError(f"Line {n}: write 'reason = priority' with a priority from 1 to 4.")
            rules[reason.strip().lower()] = int(prio)
        return rules


class SlaByPriorityField(forms.CharField):
    """One ``priority = claim minutes / resolve minutes`` per line, priority 1 (urgent) .. 4 (low)."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k} = {v[0]} / {v[1]}" for k, v in sorted(value.items()))
        return value

    def to_python(self, value) -> dict[str, list[int]]:
        text = super().to_python(value) or ""
        targets: dict[str, list[int]] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            prio, sep, minutes = line.partition("=")
            claim, slash, resolve = minutes.partition("/")
            numbers = (claim.strip(), resolve.strip())
            if (not sep or not slash or prio.strip() not in {"1", "2", "3", "4"}
                    or not all(x.isdigit() and int(x) > 0 for x in numbers)):
                raise forms.ValidationError(
                    f"Line {n}: write 'priority = claim minutes / resolve minutes', e.g. '1 = 10 / 60'."
                )
            if int(numbers[0]) > int(numbers[1]):
                raise forms.ValidationError(f"Line {n}: the claim target cannot be longer than the resolve target.")
            targets[prio.strip()] = [int(numbers[0]), int(numbers[1])]
        return targets


WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class QueueForm(forms.ModelForm):
    reasons = ListField(required=False, help_text="Comma-separated escalation reasons. Empty: any reason.")
    reason_priorities = ReasonPrioritiesField(
        required=False, label="Priority by reason", help_text="One 'reason = priority' per line (1 urgent .. 4 low)."
    )
    business_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    sla_by_priority = SlaByPriorityField(
        required=False, label="SLA by priority",
        help_text="One 'priority = claim minutes / resolve minutes' per line (1 urgent .. 4 low); "
                  "priorities not listed use the claim and resolve minutes above.",
    )

    class Meta:
        model = Queue
        fields = [
            "name", "slug", "description", "is_active", "position", "is_default", "agents", "reasons",
            "open_on_run_failure", "open_on_low_quality", "default_priority", "rule_priority", "reason_priorities",
            "sla_claim_minutes", "sla_resolve_minutes", "sla_by_priority", "business_timezone", "business_start", "business_end",
            "business_days", "lease_minutes", "reviewer_capacity", "reopen_days",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "business_start": forms.TimeInput(attrs={"type": "time"}),
            "business_end": forms.TimeInput(attrs={"type": "time"}),
            "agents": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Used in the address; made from the name when blank."

    def clean_slug(self) -> str:
        return self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name") or "")

    def clean_business_timezone(self) -> str:
        name = self.cleaned_data["business_timezone"].strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"Unknown timezone {name!r}; use an IANA name like Europe/Berlin.") from None
        return name

    def clean_is_default(self) -> bool:
        is_default = self.cleaned_data["is_default"]
        others = Queue.objects.filter(is_default=True).exclude(pk=self.instance.pk)
        if is_default and others.exists():
            raise forms.ValidationError(f"{others.first().name} is already the default queue.")
        return is_default

    def clean(self):
        data = super().clean()
        if bool(data.get("business_start")) != bool(data.get("business_end")):
            self.add_error("business_end", "Set both start and end of business hours, or neither.")
        elif data.get("business_start") and data["business_start"] >= data["business_end"]:
            self.add_error("business_end", "Business hours must end after they start.")
        elif data.get("business_start") and not data.get("business_days"):
            self.add_error("business_days", "Pick at least one business day.")
        return data


class RootCauseForm(forms.ModelForm):
    class Meta:
        model = RootCause
        fields = ["name", "slug", "description", "position", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self) -> str:
        return self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name") or "")


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["name", "body", "queues", "position", "is_active"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5}), "queues": forms.SelectMultiple(attrs={"size": 4})}
