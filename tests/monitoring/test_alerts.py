"""Alert rules: evaluation over rollups (thresholds and burn rate), events, delivery, pages."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from monitoring.alerts import services as alerts
from monitoring.alerts import tasks as alert_tasks
from monitoring.alerts.models import AlertDelivery, AlertEvent, AlertRule
from monitoring.models import Invocation, Run
from monitoring.rollups import cells as rollups
from tests.factories import make_agent
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


def _runs(agent, n: int, **kw) -> list[Run]:
    now = timezone.now()
    runs = [make_run(agent, started_at=now - timedelta(minutes=2, seconds=i), **kw) for i in range(n)]
    rollups.refresh_for_runs([r.id for r in runs])
    return runs


def _rule(agent=None, **kw) -> AlertRule:
    kw.setdefault("name", "slow")
    kw.setdefault("metric", "p95_latency_ms")
    kw.setdefault("threshold", Decimal("1000"))
    kw.setdefault("window_minutes", 15)
    kw.setdefault("min_runs", 3)
    return AlertRule.objects.create(agent=agent, **kw)


def test_a_breaching_rule_opens_one_event_and_queues_its_notification(django_capture_on_commit_callbacks):
    agent = make_agent()
    _runs(agent, 5, duration_ms=3000)
    rule = _rule(agent)
    with django_capture_on_commit_callbacks(execute=False):
        result = alerts.evaluate_rules()
    event = AlertEvent.objects.get(rule=rule)
    assert result.opened == 1 and event.is_open
    assert event.value == pytest.approx(3000, rel=0.01)
    assert result.deliveries == ((event.id, AlertDelivery.Kind.OPENED),)  # the task delivers it


def test_the_evaluation_task_delivers_each_opened_event(monkeypatch):
    agent = make_agent()
    _runs(agent, 5, duration_ms=3000)
    _rule(agent)
    sent = []
    monkeypatch.setattr(alert_tasks.deliver_alert, "delay", lambda *args: sent.append(args))
    assert alert_tasks.evaluate_alerts.apply().get()["opened"] == 1
    assert sent == [(AlertEvent.objects.get().id, AlertDelivery.Kind.OPENED)]


def test_a_rule_still_breaching_does_not_open_a_second_event(django_capture_on_commit_callbacks):
    agent = make_agent()
    _runs(agent, 5, duration_ms=3000)
    _rule(agent)
    with django_capture_on_commit_callbacks(execute=False):
        alerts.evaluate_rules()
        second = alerts.evaluate_rules()
    assert second.opened == 0
    assert AlertEvent.objects.count() == 1


def test_an_open_event_resolves_when_the_value_recovers(django_capture_on_commit_callbacks):
    agent = make_agent()
    runs = _runs(agent, 5, duration_ms=3000)
    rule = _rule(agent)
    with django_capture_on_commit_callbacks(execute=False):
        alerts.evaluate_rules()
        Run.objects.filter(pk__in=[r.pk for r in runs]).update(duration_ms=200)
        Invocation.objects.filter(run__in=runs).update(duration_ms=200)
        rollups.refresh_for_runs([r.pk for r in runs])
        result = alerts.evaluate_rules()
    event = AlertEvent.objects.get(rule=rule)
    assert result.resolved == 1
    assert event.resolved_at is not None and event.last_value == pytest.approx(200, rel=0.01)


def test_too_few_runs_are_not_judged():
    agent = make_agent()
    _runs(agent, 2, duration_ms=3000)
    _rule(agent, min_runs=3)
    assert alerts.evaluate_rules().judged == 0
    assert not AlertEvent.objects.exists()


def test_success_rate_rule_fires_below_its_threshold(django_capture_on_commit_callbacks):
    agent = make_agent()
    _runs(agent, 3, status="error")
    _runs(agent, 3)
    _rule(agent, metric="success_rate", threshold=Decimal("90"))
    with django_capture_on_commit_callbacks(execute=False):
        alerts.evaluate_rules()
    assert AlertEvent.objects.get().value == pytest.approx(50.0)


def test_burn_rate_compares_errors_with_the_agents_error_budget(django_capture_on_commit_callbacks):
    agent = make_agent(slo_min_success_rate=Decimal("95"))  # budget: 5 % of runs may fail
    _runs(agent, 1, status="error")
    _runs(agent, 9)  # 10 % errors: the budget burns twice as fast as allowed
    _rule(agent, metric="burn_rate", threshold=Decimal("1.5"), window_minutes=60)
    with django_capture_on_commit_callbacks(execute=False):
        alerts.evaluate_rules()
    assert AlertEvent.objects.get().value == pytest.approx(2.0)


def test_fleet_rule_looks_at_all_agents_together(django_capture_on_commit_callbacks):
    _runs(make_agent(), 2, has_escalation=True)
    _runs(make_agent(), 2)
    _rule(None, metric="escalation_rate", threshold=Decimal("25"))
    with django_capture_on_commit_callbacks(execute=False):
        alerts.evaluate_rules()
    event = AlertEvent.objects.get()
    assert event.agent is None and event.value == pytest.approx(50.0)


# -- delivery --------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        _Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_url(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # a test receiver on loopback, allow-listed
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_delivery_posts_the_event_as_json(webhook_url):
    agent = make_agent()
    rule = _rule(agent, webhook_url=webhook_url)
    event = AlertEvent.objects.create(rule=rule, agent=agent, value=3000, threshold=rule.threshold, message="slow")
    [delivery] = alerts.deliver_event(event.id, AlertDelivery.Kind.OPENED)
    assert delivery.ok
    assert _Receiver.bodies[0]["kind"] == "opened" and _Receiver.bodies[0]["agent"] == agent.slug


def test_a_failing_webhook_is_recorded_not_raised(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    rule = _rule(make_agent(), webhook_url="http://127.0.0.1:9/unreachable")
    [delivery] = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    assert not delivery.ok and delivery.error == "The receiver could not be reached."


def test_email_delivery_goes_through_django_mail():
    rule = _rule(make_agent(), email_to="ops@example.com, lead@example.com")
    [delivery] = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    assert delivery.ok
    assert mail.outbox[0].to == ["ops@example.com", "lead@example.com"]
    assert "Test notification" in mail.outbox[0].body


# -- pages -----------------------------------------------------------------------------------------


def test_alerts_page_lists_rules_and_open_events(ops_client):
    agent = make_agent("Paged Agent")
    rule = _rule(agent, name="p95 too high")
    AlertEvent.objects.create(rule=rule, agent=agent, value=3000, threshold=rule.threshold, message="p95 is 3 s")
    html = ops_client.get(reverse("monitoring:alerts")).content.decode()
    assert "p95 too high" in html and "p95 is 3 s" in html


@pytest.mark.parametrize("backend, expected", [
    ("django.core.mail.backends.smtp.EmailBackend", "SMTP server mail.example.com:587"),
    ("django.core.mail.backends.console.EmailBackend", "the worker's console log"),
    ("custom.mail.Backend", "custom.mail.Backend"),
])
def test_alerts_page_says_where_email_goes(ops_client, settings, backend, expected):
    settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT = backend, "mail.example.com", 587
    html = ops_client.get(reverse("monitoring:alerts")).content.decode()
    assert f"E-mail goes through {expected}" in html.replace("&#x27;", "'")


def test_creating_a_rule_from_the_form(ops_client, ops_user):
    agent = make_agent("Form Agent")
    response = ops_client.post(reverse("monitoring:alert_rule_create"), {
        "name": "errors", "agent": agent.pk, "metric": "error_rate", "threshold": "10", "window_minutes": "30",
        "min_runs": "5", "enabled": "on", "webhook_url": "", "email_to": "ops@example.com",
    })
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="errors")
    assert rule.agent == agent and rule.created_by == ops_user


def test_burn_rate_rule_without_an_slo_is_a_form_error(ops_client):
    agent = make_agent("No Slo Agent", slo_min_success_rate=None)
    response = ops_client.post(reverse("monitoring:alert_rule_create"), {
        "name": "burn", "agent": agent.pk, "metric": "burn_rate", "threshold": "14.4", "window_minutes": "60",
        "min_runs": "5",
    })
    assert response.status_code == 400
    assert "needs an agent with a minimum success rate" in response.content.decode()


def test_test_send_button_reports_the_result(ops_client):
    rule = _rule(make_agent(), email_to="ops@example.com")
    response = ops_client.post(reverse("monitoring:alert_rule_test", args=[rule.pk]), follow=True)
    assert "Test E-mail sent to ops@example.com" in response.content.decode()
    assert len(mail.outbox) == 1


def test_evaluate_alerts_task_runs_the_evaluation():
    from monitoring.alerts.tasks import evaluate_alerts

    assert evaluate_alerts.name == "monitoring.tasks.evaluate_alerts"
    assert evaluate_alerts.apply().get() == {"opened": 0, "resolved": 0, "judged": 0}


def test_demo_alert_seed_is_idempotent():
    from io import StringIO

    from demo import alerts as alert_seed

    make_agent("Seeded Agent")
    alert_seed.seed(StringIO())
    count = AlertRule.objects.count()
    alert_seed.seed(StringIO())
    assert count == 5 and AlertRule.objects.count() == count  # fleet + p95, success, burn, quality
    assert set(AlertRule.objects.exclude(agent=None).values_list("metric", flat=True)) == {
        "p95_latency_ms", "success_rate", "burn_rate", "quality"}


@pytest.mark.parametrize("metric, value, text", [
    ("p95_latency_ms", 33870.4, "33.87 s"), ("p95_latency_ms", 8000, "8.00 s"), ("p95_latency_ms", 850.4, "850 ms"), ("success_rate", 81.08, "81.1 %"),
    ("quality", 0.7952, "0.795"), ("cost_per_run", Decimal("0.01234"), "$0.0123"), ("burn_rate", 14.4, "14.4x"),
    ("error_rate", None, "–"),
])
def test_alert_values_read_in_their_unit(metric, value, text):
    from monitoring.alerts.services import format_metric

    assert format_metric(metric, value) == text


def test_alert_message_and_page_show_readable_values(ops_client):
    from monitoring.alerts.services import _message

    agent = make_agent("Slow Agent")
    rule = _rule(agent, name="Slow Agent: p95 over target", threshold=Decimal("8000"))
    message = _message(rule, 33870.4)
    assert message == ("Slow Agent: p95 over target: Slow Agent p95 latency 33.87 s over the last 15 min, "
                       "above the threshold 8.00 s")
    AlertEvent.objects.create(rule=rule, agent=agent, value=33870.4, last_value=33870.4, threshold=rule.threshold,
                              message=message)
    html = ops_client.get(reverse("monitoring:alerts")).content.decode()
    assert "33.87 s</td>" in html


@pytest.mark.parametrize("value, fires", [(0.7996, False), (0.7994, True), (0.8, False)])
def test_a_threshold_is_compared_at_the_precision_it_is_shown(value, fires):
    """Never "quality 0.800 below the threshold 0.800": what is shown equal does not fire."""
    rule = AlertRule(name="q", metric="quality", threshold=Decimal("0.8"))
    assert rule.breaches(value) is fires
    if fires:
        assert alerts.format_metric("quality", value) == "0.799"


def test_latency_thresholds_compare_at_ten_milliseconds_above_a_second():
    rule = AlertRule(name="slow", metric="p95_latency_ms", threshold=Decimal("2000"))
    assert not rule.breaches(2004.9)  # shown as 2.00 s, equal to the threshold
    assert rule.breaches(2005.0)  # shown as 2.01 s
