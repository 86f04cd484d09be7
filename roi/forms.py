"""Forms: report period and grouping (GET), a ledger change and a budget (POST)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.core.validators import MinValueValidator

from agentops.models import Agent, Department

from .calculations import (
    GROUPINGS,
    Period,
    add_months,
    custom_period,
    month_period,
    quarter_period,
    year_period,
)
from .models import AssumptionKind

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
MAX_CUSTOM_DAYS = 3 * 366  # keeps one report's scan bounded


# Reports cover these years (as the year field does): a period at the ends of the calendar (0001,
# 9999) would overflow date arithmetic, and no telemetry is older than 2000.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
YEARS_MESSAGE = f"Give a date between {EARLIEST_YEAR} and {LATEST_YEAR}."


def in_report_years(day: date) -> bool:
    return EARLIEST_YEAR <= day.year <= LATEST_YEAR


def parse_month(text: str) -> date:
    """'YYYY-MM' to the first day of that month; ValidationError otherwise."""
    match = MONTH_RE.match((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise forms.ValidationError("Give a month as YYYY-MM, for example 2026-03.")
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if not in_report_years(month):
        raise forms.ValidationError(YEARS_MESSAGE)
    return month


class MonthField(forms.CharField):
    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM", "class": "roi-month"})

    def to_python(self, value):
        value = super().to_python(value)
        return parse_month(value) if value else None

    def prepare_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, date) else value


def last_complete_month(today: date) -> date:
    return add_months(today.replace(day=1), -1)


class ReportForm(forms.Form):
    PERIODS = [("month", "Month"), ("quarter", "Quarter"), ("year", "Year"), ("custom", "Custom")]
    GROUPING_CHOICES = [(g, g.capitalize() if g != "company" else "Whole company") for g in GROUPINGS]

    period = forms.ChoiceField(choices=PERIODS, initial="month")
    month = MonthField(required=False)
    quarter = forms.TypedChoiceField(choices=[(q, f"Q{q}") for q in range(1, 5)], coerce=int, required=False)
    year = forms.IntegerField(min_value=2000, max_value=2100, required=False)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    grouping = forms.ChoiceField(choices=GROUPING_CHOICES, initial="agent")

    @classmethod
    def defaults(cls, today: date) -> dict[str, object]:
        last = last_complete_month(today)
        return {"period": "month", "month": f"{last:%Y-%m}", "quarter": str((last.month - 1) // 3 + 1),
                "year": str(last.year), "grouping": "agent"}

    @classmethod
    def from_query(cls, query, today: date) -> ReportForm:
        """Missing parameters take defaults, so a bare /roi/ link shows last month by agent."""
        data = cls.defaults(today)
        data.update({k: v for k, v in query.items() if k in cls.base_fields and v != ""})
        return cls(data)

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("period")
        if kind == "month" and not cleaned.get("month"):
            self.add_error("month", "Choose a month.")
        elif kind == "quarter" and (not cleaned.get("quarter") or not cleaned.get("year")):
            self.add_error("quarter", "Choose a quarter and a year.")
        elif kind == "year" and not cleaned.get("year"):
            self.add_error("year", "Choose a year.")
        elif kind == "custom":
            start, end = cleaned.get("date_from"), cleaned.get("date_to")
            if not start or not end:
                self.add_error("date_from", "A custom period needs a start and an end date.")
            elif not in_report_years(start) or not in_report_years(end):
                self.add_error("date_from" if not in_report_years(start) else "date_to", YEARS_MESSAGE)
            elif start > end:
                self.add_error("date_to", "The end date is before the start date.")
            elif end - start > timedelta(days=MAX_CUSTOM_DAYS):
                self.add_error("date_to", "A custom period can span at most three years.")
        return cleaned

    def get_period(self) -> Period:
        data = self.cleaned_data
        kind = data["period"]
        if kind == "month":
            return month_period(data["month"].year, data["month"].month)
        if kind == "quarter":
            return quarter_period(data["year"], data["quarter"])
        if kind == "year":
            return year_period(data["year"])
        return custom_period(data["date_from"], data["date_to"])


class DecimalInput(forms.DecimalField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 16)
        kwargs.setdefault("decimal_places", 6)
        kwargs.setdefault("validators", [MinValueValidator(Decimal("0"))])
        super().__init__(**kwargs)


class AssumptionForm(forms.Form):
    kind = forms.ChoiceField(choices=AssumptionKind.choices)
    agent = forms.ModelChoiceField(queryset=Agent.objects.order_by("name"), required=False)
    department = forms.ModelChoiceField(queryset=Department.objects.order_by("name"), required=False,
                                        help_text="Leave agent and department empty for a company-wide recapture factor.")
    currency = forms.CharField(max_length=3, required=False, help_text="Money and exchange rates: e.g. USD, EUR.")
    value_base = DecimalInput(label="Base value")
    value_low = DecimalInput(label="Low value", required=False, help_text="Leave empty if the figure is certain.")
    value_high = DecimalInput(label="High value", required=False)
    effective_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                                     help_text="In force from this UTC day until a later row.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                             help_text="Required: why the figure is what it is (kept in the audit trail).")
    restatement_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, required=False,
        label="Reason for restating closed periods",
        help_text="Only when the change is effective inside a closed month: why its reported figures change.",
    )

    def clean_currency(self) -> str:
        value = (self.cleaned_data.get("currency") or "").strip().upper()
        if value and not re.fullmatch(r"[A-Z]{3}", value):
            raise forms.ValidationError("Use a three-letter currency code such as USD or EUR.")
        return value


class BudgetForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.order_by("name"), required=False)
    department = forms.ModelChoiceField(queryset=Department.objects.order_by("name"), required=False)
    month = MonthField()
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))
    currency = forms.CharField(max_length=3, initial="USD")

    def clean(self) -> dict:
        cleaned = super().clean()
        if bool(cleaned.get("agent")) == bool(cleaned.get("department")):
            self.add_error("agent", "Choose either an agent or a department (exactly one).")
        currency = (cleaned.get("currency") or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            self.add_error("currency", "Use a three-letter currency code such as USD or EUR.")
        cleaned["currency"] = currency
        return cleaned
