"""No inline script anywhere, a Content-Security-Policy that forbids it, and chart JSON that cannot
end its <script> element."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_ATTRIBUTE = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_templates_have_no_inline_script(path):
    text = path.read_text()
    for attributes in SCRIPT_TAG.findall(text):
        assert "src=" in attributes or 'type="application/json"' in attributes, f"inline <script{attributes}>"
    assert not EVENT_ATTRIBUTE.search(text), "inline event handler attribute"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_chart_json_is_escaped_for_script_elements(path):
    for line in path.read_text().splitlines():
        if "data-plotly=" in line:
            assert "|safe" not in line and "|script_json" in line, line


def test_pages_send_a_policy_without_inline_script(ops_client):
    response = ops_client.get(reverse("registry:agent_list"))
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'self'" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_script_json_escapes_markup_but_keeps_the_data():
    payload = json.dumps({"name": "</script><img src=x onerror=alert(1)> & co"})
    html = Template("{% load script_json %}<script type=\"application/json\">{{ j|script_json }}</script>").render(
        Context({"j": payload}))
    body = html[len('<script type="application/json">'):-len("</script>")]
    assert "<" not in body and ">" not in body and "&" not in body
    assert json.loads(body) == json.loads(payload)
