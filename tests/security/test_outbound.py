"""Alert webhooks cannot reach internal addresses, follow redirects or probe ports; alert e-mail with
control characters in names is sent, and every failed delivery is recorded."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.urls import reverse

from agentops import outbound
from monitoring.alerts import services as alerts
from monitoring.alerts.models import AlertDelivery, AlertEvent, AlertRule
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _rule(agent, **kw) -> AlertRule:
    return AlertRule.objects.create(name="slow", agent=agent, metric="p95_latency_ms", threshold=1000,
                                    window_minutes=15, min_runs=1, **kw)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/", "http://localhost/", "http://10.0.0.5/hook",
                                 "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
                                 "ftp://example.com/", "file:///etc/passwd"])
def test_internal_and_odd_targets_are_refused(url):
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url(url)


def test_the_allow_list_admits_an_internal_receiver(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8"]
    outbound.check_url("http://10.1.2.3/hook")
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://192.168.0.1/hook")


def test_the_rule_form_refuses_a_loopback_webhook(ops_client):
    response = ops_client.post(reverse("monitoring:alert_rule_create"), {
        "name": "r", "metric": "error_rate", "threshold": "5", "window_minutes": "15", "min_runs": "5",
        "enabled": "on", "webhook_url": "http://127.0.0.1:8000/admin/", "email_to": ""})
    assert response.status_code in (200, 400)
    assert "private, loopback or link-local" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_delivery_to_a_loopback_webhook_is_refused_and_recorded():
    rule = _rule(make_agent(), webhook_url="http://127.0.0.1:6379/")
    [delivery] = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    assert not delivery.ok and "loopback" in delivery.error


class _Redirect(BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self):  # noqa: N802
        _Redirect.hits += 1
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:1/secret")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_redirects_are_not_followed_and_errors_are_generic(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    server = HTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rule = _rule(make_agent(), webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
        [delivery] = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    finally:
        server.shutdown()
        server.server_close()
    assert not delivery.ok and "redirect" in delivery.error and _Redirect.hits == 1
    closed = _rule(make_agent(), webhook_url="http://127.0.0.1:1/")
    [refused] = alerts.deliver(closed, AlertDelivery.Kind.TEST)
    assert refused.error == "The receiver could not be reached."  # no errno, no port detail


def test_control_characters_in_names_do_not_stop_alert_mail():
    agent = make_agent("Evil\r\nBcc: victim@example.com")
    rule = _rule(agent, email_to="ops@example.com")
    event = AlertEvent.objects.create(rule=rule, agent=agent, value=3000, threshold=rule.threshold,
                                      message=f"{agent.name} is slow")
    [delivery] = alerts.deliver_event(event.id, AlertDelivery.Kind.OPENED)
    assert delivery.ok, delivery.error
    assert "\n" not in mail.outbox[0].subject and "\r" not in mail.outbox[0].subject


def test_a_failed_mail_delivery_is_recorded(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    rule = _rule(make_agent(), email_to="ops@example.com")
    [delivery] = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    assert not delivery.ok and delivery.error
    assert AlertDelivery.objects.filter(ok=False).count() == 1
