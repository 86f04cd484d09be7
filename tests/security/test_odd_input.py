"""Odd input gets a clear 400, never a 500: deep nesting, broken JSON, huge numbers, NUL in addresses,
dates at the ends of the calendar."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agentops.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(db) -> str:
    return ApiKey.generate(label="odd")[1]


def _post(client, path, body, token, content_type="application/json"):
    return client.post(path, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")


def _deep_kvlist(depth: int) -> dict:
    value: dict = {"stringValue": "x"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def _otlp_json(attribute_value) -> bytes:
    span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "chat",
            "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001000000000",
            "attributes": [{"key": "deep", "value": attribute_value}]}
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []},
                                          "scopeSpans": [{"spans": [span]}]}]}).encode()


@pytest.mark.parametrize("depth", [200, 5000])
def test_deeply_nested_attributes_get_a_400(client, token, depth):
    body = _otlp_json(_deep_kvlist(depth)) if depth < 1000 else (
        b'{"resourceSpans": ' + b"[" * depth + b"]" * depth + b"}")
    response = _post(client, "/v1/traces", body, token)
    assert response.status_code == 400, response.content[:300]


@pytest.mark.parametrize("body", [b"\xff\xfe{not utf8", b'{"resourceSpans": [1e999999]}', b"[" * 100000])
def test_broken_json_gets_a_400(client, token, body):
    assert _post(client, "/v1/traces", body, token).status_code == 400
    assert _post(client, "/api/v1/runs", body, token).status_code == 400


@pytest.mark.parametrize("value", ["1e999999", "9" * 5000, "-1e400"])
def test_huge_numbers_in_the_native_api_get_a_400_or_are_accepted(client, token, value):
    body = ('{"runs": [{"agent": "a", "started_at": "2026-11-20T12:00:00Z", "duration_ms": V, '
            '"steps": [{"name": "s", "input_tokens": V, "cost": V}]}]}').replace("V", value).encode()
    response = _post(client, "/api/v1/runs", body, token)
    assert response.status_code in (202, 400), response.content[:300]


@pytest.mark.parametrize("path", ["/api/v1/runs/ab%00c/feedback"])
def test_nul_in_an_api_address_gets_a_400(client, token, path):
    response = _post(client, path, b'{"score": 1}', token)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]


@pytest.mark.parametrize("path", ["/monitoring/runs/ab%00c/", "/monitoring/runs/?q=a%00b",
                                  "/registry/agents/?q=%00"])
def test_nul_in_a_page_address_gets_a_400(ops_client, path):
    assert ops_client.get(path).status_code == 400


def test_spend_watch_refuses_a_month_at_the_end_of_the_calendar(finance_client):
    assert finance_client.get(reverse("roi:spend"), {"month": "9999-12"}).status_code == 400


@pytest.mark.parametrize("params", [
    {"period": "custom", "date_from": "0001-01-01", "date_to": "0001-01-02"},
    {"period": "custom", "date_from": "9999-12-30", "date_to": "9999-12-31"},
    {"period": "month", "month": "9999-12"},
    {"period": "month", "month": "0001-01"},
])
@pytest.mark.parametrize("name", ["roi:report", "roi:export_csv", "roi:export_xlsx", "roi:print", "roi:tickets",
                                  "roi:runs"])
def test_dates_at_the_ends_of_the_calendar_get_a_400(finance_client, name, params):
    if name in ("roi:tickets", "roi:runs"):  # drill-downs take from/to
        params = {"from": params.get("date_from", "0001-01-01"), "to": params.get("date_to", "0001-01-02"),
                  "department": "1"}
    response = finance_client.get(reverse(name), params)
    assert response.status_code == 400, (name, params, response.status_code)
