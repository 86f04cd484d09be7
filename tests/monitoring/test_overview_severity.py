"""The overview puts the worst agent first, names the SLO target that failed, says "error-budget burn",
and its department filter applies to the alert banner too."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.alerts.models import AlertEvent, AlertMetric, AlertRule
from monitoring.rollups import cells as rollups
from tests.factories import make_agent, make_department
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


def _runs(agent, n: int, **kw) -> None:
    now = timezone.now()
    runs = [make_run(agent, started_at=now - timedelta(minutes=5 + i), **kw) for i in range(n)]
    rollups.refresh_for_runs([r.id for r in runs])


def _alert(agent, message="slow") -> AlertEvent:
    rule = AlertRule.objects.create(agent=agent, name=f"rule {message}", metric=AlertMetric.P95_LATENCY,
                                    threshold=Decimal("100"), window_minutes=15)
    return AlertEvent.objects.create(rule=rule, agent=agent, value=3000, threshold=rule.threshold, message=message)


def test_default_order_is_open_alerts_then_slo_then_burn(ops_client):
    calm = make_agent("Aaron Calm", slo_p95_latency_ms=10_000)
    slow = make_agent("Bea Slow", slo_p95_latency_ms=500)
    alarmed = make_agent("Zed Alarmed", slo_p95_latency_ms=10_000)
    for agent, ms in ((calm, 200), (slow, 2000), (alarmed, 200)):
        _runs(agent, 3, duration_ms=ms)
    _alert(alarmed, "one")
    _alert(alarmed, "two")
    html = ops_client.get(reverse("monitoring:overview")).content.decode()
    order = [html.index(f'data-agent="{a.slug}"') for a in (alarmed, slow, calm)]
    assert order == sorted(order)
    assert "2 open alerts" in html


def test_the_slo_pill_names_the_failed_target(ops_client):
    agent = make_agent("Billing Bot", slo_p95_latency_ms=500)
    _runs(agent, 4, duration_ms=2000)
    html = ops_client.get(reverse("monitoring:overview")).content.decode()
    assert ": p95 latency</span>" in html
    assert "Error-budget burn" in html and "Budget burn" not in html


def test_department_filter_applies_to_the_alert_banner(ops_client):
    sales, support = make_department("Sales"), make_department("Support")
    seller, helper = make_agent("Seller", department=sales), make_agent("Helper", department=support)
    _runs(seller, 1)
    _runs(helper, 1)
    _alert(seller, "sales alert")
    _alert(helper, "support alert")
    html = ops_client.get(reverse("monitoring:overview"), {"department": support.pk}).content.decode()
    assert "support alert" in html and "sales alert" not in html


def test_the_pill_names_breached_targets_before_those_at_risk(ops_client):
    agent = make_agent("A", slo_p95_latency_ms=1000, slo_max_cost_per_run=Decimal("0.05"))
    _runs(agent, 4, duration_ms=2000, cost="0.048")  # p95 breached; cost per run at risk
    html = ops_client.get(reverse("monitoring:overview")).content.decode()
    assert ": p95 latency</span>" in html and "cost per run</span>" not in html


def test_acknowledge_and_snooze_an_alert(ops_client, ops_user):
    agent = make_agent("Helper")
    _runs(agent, 1)
    event = _alert(agent, "helper slow")
    url = reverse("monitoring:alert_event_action", args=[event.pk, "acknowledge"])
    assert ops_client.post(url).status_code == 302
    event.refresh_from_db()
    assert event.acknowledged_by == ops_user and event.acknowledged_at is not None
    assert "acknowledged" in ops_client.get(reverse("monitoring:alerts")).content.decode()

    snooze = reverse("monitoring:alert_event_action", args=[event.pk, "snooze"])
    assert ops_client.post(snooze, {"hours": "4"}).status_code == 302
    event.refresh_from_db()
    assert event.snoozed_until > timezone.now() + timedelta(hours=3)
    overview = ops_client.get(reverse("monitoring:overview")).content.decode()
    assert "helper slow" not in overview and "open alert" not in overview  # off the banner and the order
    response = ops_client.post(snooze, {"hours": "99"}, follow=True)
    assert "Snooze for 1, 4, 24 hours." in response.content.decode()


def test_alert_actions_are_for_operations(reviewer_client):
    agent = make_agent("Helper")
    event = _alert(agent)
    url = reverse("monitoring:alert_event_action", args=[event.pk, "acknowledge"])
    assert reviewer_client.post(url).status_code == 403


def test_test_send_is_offered_only_with_a_channel(ops_client):
    agent = make_agent("Helper")
    silent = AlertRule.objects.create(agent=agent, name="silent", metric=AlertMetric.P95_LATENCY,
                                      threshold=Decimal("100"))
    loud = AlertRule.objects.create(agent=agent, name="loud", metric=AlertMetric.P95_LATENCY,
                                    threshold=Decimal("100"), email_to="ops@example.com")
    html = ops_client.get(reverse("monitoring:alerts")).content.decode()
    assert reverse("monitoring:alert_rule_test", args=[loud.pk]) in html
    assert reverse("monitoring:alert_rule_test", args=[silent.pk]) not in html
    response = ops_client.post(reverse("monitoring:alert_rule_test", args=[silent.pk]), follow=True)
    assert "add one to test sending" in response.content.decode()


def test_trace_view_shows_conversation_folded_attributes_and_missing_io(ops_client):
    import json

    agent = make_agent("Talker")
    run = make_run(agent, input_preview="", output_preview="", steps=[
        {"kind": "llm", "model": "gpt-4o", "input": json.dumps([{"role": "user", "content": "Refund please"}]),
         "output": "", "attributes": {"gen_ai.request.model": "gpt-4o"}, "events": []},
    ])
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert "No input or output was recorded for this run" in html
    assert 'class="turn role-user"' in html and "Refund please" in html
    assert "No output recorded for this step." in html
    assert "Attributes (1)" in html and "Events (0)" in html and 'data-copy="attributes-' in html


def test_archived_and_test_agents_are_hidden_unless_shown_and_the_choice_is_remembered(ops_client):
    live, test_agent = make_agent("Live One"), make_agent("Staging Bot", is_test=True)
    archived = make_agent("Old Bot")
    for a in (live, test_agent, archived):
        _runs(a, 1)
    response = ops_client.post(reverse("registry:agent_archive", args=[archived.slug]))
    assert response.status_code == 302
    archived.refresh_from_db()
    assert archived.archived_at is not None
    html = ops_client.get(reverse("monitoring:overview")).content.decode()
    assert 'data-agent="live-one"' in html and "staging-bot" not in html and "old-bot" not in html
    shown = ops_client.get(reverse("monitoring:overview"), {"inactive": "1"}).content.decode()
    assert "staging-bot" in shown and "old-bot" in shown and ">archived</span>" in shown
    again = ops_client.get(reverse("monitoring:overview")).content.decode()  # remembered for this user
    assert "staging-bot" in again
    ops_client.get(reverse("monitoring:overview"), {"inactive": "0"})
    assert "staging-bot" not in ops_client.get(reverse("monitoring:overview")).content.decode()
    ops_client.post(reverse("registry:agent_archive", args=[archived.slug]), {"restore": "1"})
    assert "old-bot" in ops_client.get(reverse("monitoring:overview")).content.decode()


def test_root_causes_table_leads_with_failure_and_root_cause(ops_client):
    agent = make_agent("Fails")
    _runs(agent, 2, status="error", error_type="Timeout", fingerprint="f" * 40)
    html = ops_client.get(reverse("insights:root_causes")).content.decode()
    head = html.split('id="failure-groups"')[1].split("</thead>")[0]
    assert head.index("Failure") < head.index("Root cause") < head.index("Runs")
    assert 'class="col-more">Agents' in head and 'data-toggle-columns="failure-groups"' in html
