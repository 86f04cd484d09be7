from datetime import UTC, datetime

import pytest

from agentops.forms import AgentFilterForm, AgentForm, DepartmentForm, ModelPriceForm, suggest_slug
from tests.factories import make_agent, make_department, make_price

pytestmark = pytest.mark.django_db


def agent_data(**overrides) -> dict:
    data = {"name": "Claims Triage", "slug": "", "lifecycle_stage": "pilot", "model": "gpt-4o-mini"}
    data.update(overrides)
    return data


def test_blank_slug_is_derived_from_the_name():
    form = AgentForm(agent_data())
    assert form.is_valid(), form.errors
    assert form.save().slug == "claims-triage"


def test_derived_slug_avoids_an_existing_one():
    make_agent("Claims Triage", slug="claims-triage")
    form = AgentForm(agent_data())
    assert form.is_valid(), form.errors
    assert form.cleaned_data["slug"] == "claims-triage-2"


def test_duplicate_slug_gets_a_friendly_field_error():
    make_agent("Billing", slug="billing-agent")
    form = AgentForm(agent_data(slug="billing-agent"))
    assert not form.is_valid()
    assert form.errors["slug"] == ["The slug “billing-agent” is already used by the agent “Billing”; choose another."]


def test_editing_an_agent_keeps_its_own_slug_valid():
    agent = make_agent("Billing", slug="billing-agent")
    form = AgentForm(agent_data(name="Billing v2", slug="billing-agent"), instance=agent)
    assert form.is_valid(), form.errors


def test_reserved_slug_is_rejected():
    form = AgentForm(agent_data(slug="new"))
    assert not form.is_valid() and "reserved" in form.errors["slug"][0]


def test_negative_latency_target_is_a_field_error():
    form = AgentForm(agent_data(slo_p95_latency_ms="-5"))
    assert not form.is_valid() and "slo_p95_latency_ms" in form.errors


@pytest.mark.parametrize("value", ["-1", "100.5"])
def test_success_rate_must_be_between_0_and_100(value):
    form = AgentForm(agent_data(slo_min_success_rate=value))
    assert not form.is_valid() and "slo_min_success_rate" in form.errors


@pytest.mark.parametrize("value", ["-0.1", "1.2"])
def test_quality_must_be_between_0_and_1(value):
    form = AgentForm(agent_data(slo_min_quality=value))
    assert not form.is_valid() and "slo_min_quality" in form.errors


def test_negative_cost_target_is_a_field_error():
    form = AgentForm(agent_data(slo_max_cost_per_run="-0.01"))
    assert not form.is_valid() and "slo_max_cost_per_run" in form.errors


@pytest.mark.parametrize("value", ["999999", "abc"])
def test_unknown_department_is_a_field_error(value):
    form = AgentForm(agent_data(department=value))
    assert not form.is_valid()
    assert form.errors["department"] == ["That choice no longer exists; pick one from the list."]


def test_suggest_slug_of_a_name_without_letters_is_empty():
    assert suggest_slug("!!!") == ""


def test_name_without_letters_and_no_slug_asks_for_a_slug():
    form = AgentForm(agent_data(name="???"))
    assert not form.is_valid() and "enter one" in form.errors["slug"][0]


def test_filter_form_keeps_valid_filters_when_one_is_invalid():
    dept = make_department()
    form = AgentFilterForm({"department": str(dept.pk), "stage": "bogus", "q": " bill "})
    assert not form.is_valid()
    filters = form.filters()
    assert (filters.department, filters.lifecycle_stage, filters.q) == (dept, "", "bill")


def test_filter_form_maps_discovered_choice_to_a_boolean():
    form = AgentFilterForm({"discovered": "yes"})
    assert form.is_valid() and form.filters().discovered is True


def price_data(**overrides) -> dict:
    data = {
        "model_name": "gpt-4o", "input_per_mtok": "2.50", "output_per_mtok": "10.00", "currency": "usd",
        "effective_from": "2025-06-01T00:00",
    }
    data.update(overrides)
    return data


def test_price_form_accepts_a_valid_row_and_normalises_currency():
    form = ModelPriceForm(price_data())
    assert form.is_valid(), form.errors
    assert form.cleaned_data["currency"] == "USD"


@pytest.mark.parametrize("field", ["input_per_mtok", "output_per_mtok"])
def test_negative_price_is_a_field_error(field):
    form = ModelPriceForm(price_data(**{field: "-1"}))
    assert not form.is_valid() and field in form.errors


def test_duplicate_model_and_start_is_an_error_on_effective_from_only():
    make_price("gpt-4o", effective_from=datetime(2025, 6, 1, tzinfo=UTC))
    form = ModelPriceForm(price_data())
    assert not form.is_valid()
    assert list(form.errors) == ["effective_from"]
    assert "already has a price" in form.errors["effective_from"][0]


def test_bad_currency_code_is_a_field_error():
    form = ModelPriceForm(price_data(currency="dollars"))
    assert not form.is_valid() and "currency" in form.errors


def test_department_name_is_unique_ignoring_case():
    make_department("Sales")
    form = DepartmentForm({"name": "sales", "cost_center": "CC-1"})
    assert not form.is_valid()
    assert form.errors["name"] == ["A department named “Sales” already exists."]


def test_department_can_be_saved_under_its_own_name():
    dept = make_department("Sales")
    form = DepartmentForm({"name": "Sales", "cost_center": "CC-9"}, instance=dept)
    assert form.is_valid(), form.errors
