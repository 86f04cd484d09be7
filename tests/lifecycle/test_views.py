"""Lifecycle pages: roles, the board (and its query count), actions through the service, criteria, portfolio."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from agentops.models import Agent
from lifecycle import services
from lifecycle.models import LifecycleSettings, StageCriteria, StageEvent, WatchFlag
from tests.factories import make_agent, make_department
from tests.roi.factories import make_run, standard_ledger

from .factories import NOW, TODAY, healthy_days

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_pilot(ops_user):
    agent = make_agent("Ready Pilot", owner=ops_user, lifecycle_stage="pilot")
    healthy_days(agent, 13, runs=20)
    return agent


def test_board_shows_cards_by_stage_with_readiness_and_figures(frozen, ops_client, ready_pilot, ops_user):
    make_agent("Idle Scale", owner=ops_user, lifecycle_stage="scale")
    r = ops_client.get("/lifecycle/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Ready Pilot" in html and "ready for Integrate" in html and "Promote to Integrate" in html
    assert "Idle Scale" in html and "failing" in html
    assert "in stage" in html


def test_board_filters_by_department_and_rejects_an_unknown_one(frozen, ops_client, ops_user):
    sales, support = make_department("Sales"), make_department("Support")
    make_agent("Seller", department=sales, owner=ops_user)
    make_agent("Helper", department=support, owner=ops_user)
    html = ops_client.get(f"/lifecycle/?department={sales.pk}").content.decode()
    assert "Seller" in html and "Helper" not in html
    r = ops_client.get("/lifecycle/?department=99999")
    assert r.status_code == 400 and "Unknown department" in r.content.decode()


def test_board_empty_state(ops_client):
    assert "No agents to show" in ops_client.get("/lifecycle/").content.decode()


def test_board_query_count_does_not_grow_with_agents(frozen, ops_client, ops_user, django_assert_max_num_queries):
    stages = ["pilot", "integrate", "scale", "optimize", "retired"]
    for i, stage in enumerate(stages):
        healthy_days(make_agent(f"A{i}", owner=ops_user, lifecycle_stage=stage), 2)
    ops_client.get("/lifecycle/")  # warm caches (session, content types)
    with django_assert_max_num_queries(26) as few:
        ops_client.get("/lifecycle/")
    for i in range(15):
        healthy_days(make_agent(f"B{i}", owner=ops_user, lifecycle_stage=stages[i % 5]), 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        ops_client.get("/lifecycle/")


@pytest.mark.parametrize("url", ["/lifecycle/", "/lifecycle/criteria/", "/lifecycle/agents/x/"])
def test_reviewers_and_finance_cannot_open_operations_pages(reviewer_client, finance_client, url):
    assert reviewer_client.get(url).status_code == 403
    assert finance_client.get(url).status_code == 403


def test_reviewer_cannot_promote(frozen, reviewer_client, ready_pilot):
    r = reviewer_client.post(f"/lifecycle/agents/{ready_pilot.slug}/promote/", {"expected_stage": "pilot"})
    assert r.status_code == 403
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "pilot"


def test_promote_from_the_board_returns_to_the_board(frozen, ops_client, ready_pilot):
    r = ops_client.post(f"/lifecycle/agents/{ready_pilot.slug}/promote/",
                        {"expected_stage": "pilot", "next": "/lifecycle/?department="})
    assert r.status_code == 302 and r.url == "/lifecycle/?department="
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "integrate"


def test_a_refused_promotion_goes_to_the_agent_page_with_the_reason(frozen, ops_client, ops_user):
    agent = make_agent("Thin", owner=ops_user, lifecycle_stage="pilot")
    r = ops_client.post(f"/lifecycle/agents/{agent.slug}/promote/",
                        {"expected_stage": "pilot", "next": "/lifecycle/"}, follow=True)
    assert r.redirect_chain[-1][0] == f"/lifecycle/agents/{agent.slug}/"
    assert "does not meet the Integrate criteria" in r.content.decode()


def test_override_without_reason_is_a_form_error(frozen, ops_client, ops_user):
    agent = make_agent("Thin", owner=ops_user, lifecycle_stage="pilot")
    r = ops_client.post(f"/lifecycle/agents/{agent.slug}/promote/", {"expected_stage": "pilot", "override": "on"})
    assert r.status_code == 400 and "An override needs a reason" in r.content.decode()
    r = ops_client.post(f"/lifecycle/agents/{agent.slug}/promote/",
                        {"expected_stage": "pilot", "override": "on", "reason": "exec sponsor"})
    assert r.status_code == 302 and StageEvent.objects.get().override


def test_agent_page_lists_criteria_with_evidence_links_and_history(frozen, ops_client, ready_pilot, ops_user):
    services.promote(ready_pilot, ops_user, reason="first step")
    html = ops_client.get(f"/lifecycle/agents/{ready_pilot.slug}/").content.decode()
    assert "Readiness for Scale" in html and "evidence" in html and "first step" in html


def test_approve_and_reject_pages(frozen, ops_client, ready_pilot, ops_user):
    from tests.conftest import make_user

    LifecycleSettings.objects.update_or_create(pk=1, defaults={"require_second_approver": True})
    ops_client.post(f"/lifecycle/agents/{ready_pilot.slug}/promote/", {"expected_stage": "pilot"})
    pending = ready_pilot.pending_promotions.get()
    r = ops_client.post(f"/lifecycle/pending/{pending.pk}/approve/", follow=True)
    assert "different operations user" in r.content.decode()
    other = make_user("oscar", "Operations")
    from django.test import Client

    second = Client()
    second.force_login(other)
    second.post(f"/lifecycle/pending/{pending.pk}/approve/")
    ready_pilot.refresh_from_db()
    assert ready_pilot.lifecycle_stage == "integrate"


def test_demote_form(frozen, ops_client, ops_user):
    agent = make_agent("Wobbly", owner=ops_user, lifecycle_stage="scale")
    r = ops_client.post(f"/lifecycle/agents/{agent.slug}/demote/", {"to_stage": "integrate", "reason": ""})
    assert r.status_code == 400 and "A demotion needs a reason" in r.content.decode()
    r = ops_client.post(f"/lifecycle/agents/{agent.slug}/demote/", {"to_stage": "optimize", "reason": "x"})
    assert r.status_code == 400
    ops_client.post(f"/lifecycle/agents/{agent.slug}/demote/", {"to_stage": "integrate", "reason": "breaches"})
    agent.refresh_from_db()
    assert agent.lifecycle_stage == "integrate"


def test_dismiss_a_flag(frozen, ops_client, ops_user):
    agent = make_agent("Flagged", owner=ops_user, lifecycle_stage="scale")
    flag = WatchFlag.objects.create(agent=agent, stage="scale", suggested_stage="integrate", failing_since=TODAY,
                                    days=7)
    assert "flagged: demote to Integrate?" in ops_client.get("/lifecycle/").content.decode()
    ops_client.post(f"/lifecycle/flags/{flag.pk}/dismiss/", {"note": "holiday traffic"})
    flag.refresh_from_db()
    assert flag.resolved_at is not None and "holiday traffic" in flag.resolution


def test_stage_criteria_are_edited_per_stage_and_overridden_per_department(ops_client, ops_user):
    r = ops_client.get("/lifecycle/criteria/")
    assert r.status_code == 200 and "defaults" in r.content.decode()
    r = ops_client.post("/lifecycle/criteria/scale/", {"min_runs": "5000", "check_roi": "false"})
    assert r.status_code == 302
    row = StageCriteria.objects.get(stage="scale", department=None, agent=None)
    assert (row.min_runs, row.check_roi, row.window_days, row.updated_by) == (5000, False, None, ops_user)
    dept = make_department("Claims")
    r = ops_client.post("/lifecycle/criteria/overrides/new/",
                        {"stage": "scale", "department": dept.pk, "max_handoff_rate": "25"})
    assert r.status_code == 302
    assert StageCriteria.objects.get(department=dept).max_handoff_rate == Decimal("25")
    r = ops_client.post("/lifecycle/criteria/overrides/new/", {"stage": "scale", "department": dept.pk})
    assert r.status_code == 400 and "already has an override" in r.content.decode()
    r = ops_client.post("/lifecycle/criteria/overrides/new/", {"stage": "scale"})
    assert r.status_code == 400 and "exactly one" in r.content.decode()
    r = ops_client.post("/lifecycle/criteria/integrate/", {"slo_days_required": "9", "slo_days_window": "7"})
    assert r.status_code == 400 and "Cannot require more days" in r.content.decode()


def test_settings_turn_on_the_second_approver(ops_client):
    r = ops_client.post("/lifecycle/criteria/", {"require_second_approver": "on", "watch_days": "5"})
    assert r.status_code == 302
    settings = LifecycleSettings.load()
    assert settings.require_second_approver and settings.watch_days == 5


def test_portfolio_for_finance_sums_roi_figures_per_department_and_stage(frozen, finance_client, finance_user,
                                                                          ops_user):
    from lifecycle.models import StageEvent

    dept = make_department("Billing")
    a = make_agent("Biller", department=dept, lifecycle_stage="scale", owner=ops_user)
    Agent.objects.filter(pk=a.pk).update(created_at=NOW - timedelta(days=60))
    a.refresh_from_db()  # promoted 20 and 40 days ago: in Scale for the whole 30-day period
    standard_ledger(finance_user, dept, a)
    for i in range(5):
        make_run(a, NOW - timedelta(hours=i + 1))
    StageEvent.objects.create(agent=a, kind="promotion", from_stage="pilot", to_stage="integrate", actor=ops_user,
                              occurred_at=a.created_at + timedelta(days=10))
    StageEvent.objects.create(agent=a, kind="promotion", from_stage="integrate", to_stage="scale", actor=ops_user,
                              occurred_at=a.created_at + timedelta(days=30))
    r = finance_client.get("/lifecycle/portfolio/")
    assert r.status_code == 200
    p = r.context["p"]
    row = next(x for x in p.rows if x.department == "Billing")
    assert (row.stage, row.agents, row.runs, row.value) == ("scale", 1, 5, Decimal("30.00"))
    assert dict(p.median_days)["Pilot"] == 10.0 and dict(p.median_days)["Integrate"] == 20.0
    assert p.pilot_to_scale_days == 30.0


def test_portfolio_rejects_an_unknown_period(finance_client):
    assert finance_client.get("/lifecycle/portfolio/?days=7").status_code == 400


def test_registry_agent_page_shows_readiness_and_history_panel(frozen, ops_client, ready_pilot):
    html = ops_client.get(f"/registry/agents/{ready_pilot.slug}/").content.decode()
    assert 'id="lifecycle-readiness"' in html and "Stage history" in html and "ready for Integrate" in html


def test_registry_edit_form_shows_the_stage_read_only_and_ignores_a_posted_stage(ops_client, ops_user):
    agent = make_agent("Stable", owner=ops_user, lifecycle_stage="pilot")
    html = ops_client.get(f"/registry/agents/{agent.slug}/edit/").content.decode()
    assert 'name="lifecycle_stage"' not in html and f"/lifecycle/agents/{agent.slug}/" in html
    ops_client.post(f"/registry/agents/{agent.slug}/edit/", {"name": "Stable", "slug": agent.slug,
                                                             "lifecycle_stage": "optimize"})
    assert Agent.objects.get(pk=agent.pk).lifecycle_stage == "pilot"


def test_roi_export_assumptions_sheet_includes_the_stage_history(frozen, finance_client, finance_user, ops_user):
    dept = make_department("Billing")
    a = make_agent("Biller", department=dept, lifecycle_stage="pilot", owner=ops_user)
    standard_ledger(finance_user, dept, a)
    make_run(a, NOW - timedelta(days=2))
    services.promote(a, ops_user, override=True, reason="go live for March")
    query = {"period": "custom", "date_from": (TODAY - timedelta(days=5)).isoformat(),
             "date_to": TODAY.isoformat(), "grouping": "agent"}
    r = finance_client.get("/roi/export.xlsx", query)
    assert r.status_code == 200
    sheet = load_workbook(BytesIO(r.content))["Assumptions"]
    values = [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
    assert any(row and "Lifecycle stage history" in str(row[0]) for row in values)
    assert any("Biller" in row and "go live for March" in row and "Integrate" in row for row in values)


def test_board_filter_under_htmx_returns_only_the_board(frozen, ops_client, ops_user):
    make_agent("Seller", owner=ops_user)
    r = ops_client.get("/lifecycle/", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and 'id="board"' in html and "<html" not in html and "Seller" in html


def test_the_board_link_shows_the_number_of_flagged_agents(frozen, ops_client, ops_user):
    agent = make_agent("Flagged", owner=ops_user, lifecycle_stage="scale")
    WatchFlag.objects.create(agent=agent, stage="scale", suggested_stage="integrate", failing_since=TODAY, days=7)
    html = ops_client.get("/lifecycle/portfolio/").content.decode()
    assert 'title="agents flagged by the lifecycle watch">1</span>' in html
