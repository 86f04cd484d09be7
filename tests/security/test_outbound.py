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


class _Echo(BaseHTTPRequestHandler):
    """Answers 200 and records the Host header each request carried."""

    hosts: list[str] = []

    def do_POST(self):  # noqa: N802
        _Echo.hosts.append(self.headers.get("Host", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"output": "ok"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    _Echo.hosts = []
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A resolver stub for ``hooks.example.test``: the first answer is the allow-listed receiver, every
    later one the cloud metadata address (a DNS rebinding attack). Other names resolve normally."""
    import socket

    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_the_call_goes_to_the_checked_address_with_the_original_host(settings, echo_server, rebinding_dns):
    settings.OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{echo_server.server_port}"]
    url = f"http://hooks.example.test:{echo_server.server_port}/hook"
    outbound.post_json(url, {"a": 1}, timeout=5)
    assert rebinding_dns == ["hooks.example.test"]  # resolved once: the HTTP client did not ask again
    assert _Echo.hosts == [f"hooks.example.test:{echo_server.server_port}"]
    with pytest.raises(outbound.OutboundRefused, match="link-local"):  # the next call sees the new answer
        outbound.post_json(url, {"a": 2}, timeout=5)
    assert len(_Echo.hosts) == 1


def test_a_pinned_https_call_presents_the_name_for_sni_and_the_certificate(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8"]
    outbound_resolve = outbound._resolve
    try:
        outbound._resolve = lambda host, port: ["10.1.2.3"]
        target = outbound.resolve("https://models.internal:8443/v1/chat/completions?x=1")
    finally:
        outbound._resolve = outbound_resolve
    assert target.url == "https://10.1.2.3:8443/v1/chat/completions?x=1"
    assert (target.hostname, target.host_header) == ("models.internal", "models.internal:8443")
    pool = outbound.session_for(target).get_adapter(target.url).poolmanager.connection_from_url(target.url)
    assert pool.host == "10.1.2.3" and pool.assert_hostname == "models.internal"
    assert pool.conn_kw["server_hostname"] == "models.internal"


def test_an_allow_list_entry_with_a_port_admits_that_port_only(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1:8765"]
    outbound.check_url("http://127.0.0.1:8765/v1")
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://127.0.0.1:6379/")
    with outbound.allowing("127.0.0.1:6379"):
        outbound.check_url("http://127.0.0.1:6379/")
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://127.0.0.1:6379/")


def test_evals_model_calls_go_through_the_guard(settings, echo_server, rebinding_dns):
    from evals import client

    with pytest.raises(client.CallFailed, match="refused: .*loopback") as info:
        client.invoke(f"http://127.0.0.1:{echo_server.server_port}/invoke", {"input": "hi"})
    assert not info.value.transient and _Echo.hosts == []
    with pytest.raises(client.CallFailed, match="refused"):
        client.chat("http://169.254.169.254/v1", "m", [{"role": "user", "content": "hi"}])
    settings.OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{echo_server.server_port}"]
    answer = client.invoke(f"http://hooks.example.test:{echo_server.server_port}/invoke", {"input": "hi"})
    assert answer.output == "ok" and rebinding_dns == ["hooks.example.test"]
    assert _Echo.hosts == [f"hooks.example.test:{echo_server.server_port}"]


def test_the_endpoint_form_refuses_an_internal_url(ops_client):
    from evals.models import Endpoint

    response = ops_client.post(reverse("evals:endpoint_list"), {
        "name": "metadata", "kind": "chat", "base_url": "http://169.254.169.254/v1", "model": "m",
        "timeout_seconds": "30"})
    assert "private, loopback or link-local" in response.content.decode()
    assert not Endpoint.objects.filter(name="metadata").exists()
