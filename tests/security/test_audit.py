"""The audit log: configuration changes with who, when, before and after; append-only; a page and CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group, User
from django.db import DatabaseError, transaction
from django.urls import reverse

from agentops import services
from agentops.audit import acting_as
from agentops.models import ApiKey, AuditEvent
from roi.models import AssumptionKind
from tests.factories import make_agent, make_department
from tests.roi.factories import assume

pytestmark = pytest.mark.django_db


def test_an_slo_change_through_the_page_records_who_and_before_after(ops_client, ops_user):
    agent = make_agent("Refunds", slo_min_success_rate="0.90")
    form = ops_client.get(reverse("registry:agent_edit", args=[agent.slug])).context["form"]
    data = {k: ("" if v is None else (v.pk if hasattr(v, "pk") else v)) for k, v in form.initial.items()
            if k in form.fields}
    data["slo_min_success_rate"] = "0.95"
    response = ops_client.post(reverse("registry:agent_edit", args=[agent.slug]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.filter(object_type="agent", action="changed").latest("id")
    assert event.actor_name == "olivia"
    assert event.before["slo_min_success_rate"] in ("0.90", "0.9000") and event.after["slo_min_success_rate"] == "0.95"


def test_prompt_activation_and_rollouts_are_recorded(ops_user):
    agent = make_agent("Triage")
    with acting_as(ops_user):
        v1 = services.create_prompt_version(agent, "one")
        v2 = services.create_prompt_version(agent, "two")
        services.start_rollout(v2, 20, ops_user)
        services.promote_candidate(agent)
    activations = AuditEvent.objects.filter(action="activated").order_by("id")
    assert [(e.before["active_version"], e.after["active_version"]) for e in activations] == [(None, 1), (1, 2)]
    rollout = AuditEvent.objects.filter(object_type="prompt rollout").order_by("id")
    assert [e.action for e in rollout] == ["created", "deleted"]
    assert rollout[0].after["share"] == 20 and all(e.actor_name == "olivia" for e in rollout)
    assert v1.pk and v2.pk


def test_api_keys_users_roles_and_roi_settings_are_recorded(ops_user, finance_user):
    with acting_as(ops_user):
        key, _token = services.create_api_key("ci", None, ops_user)
        services.revoke_api_key(key)
        bob = User.objects.create_user("bob", password="x-long-password-1")
        bob.groups.add(Group.objects.get_or_create(name="Finance")[0])
        bob.groups.remove(Group.objects.get(name="Finance"))
    with acting_as(finance_user):
        assume(finance_user, AssumptionKind.HOURLY_COST, "40", department=make_department("Support"), currency="USD")
    kinds = list(AuditEvent.objects.order_by("id").values_list("object_type", "action"))
    assert ("API key", "created") in kinds and ("API key", "changed") in kinds
    assert ("user", "created") in kinds and ("user", "roles added") in kinds and ("user", "roles removed") in kinds
    assert ("ROI assumption", "created") in kinds
    revoked = AuditEvent.objects.get(object_type="API key", action="changed")
    assert revoked.before == {"revoked_at": None} and revoked.after["revoked_at"]
    assert "key_hash" not in str(AuditEvent.objects.filter(object_type="API key").values_list("after", flat=True))
    assert ApiKey.objects.count() == 1


def test_noise_fields_are_not_recorded(ops_user):
    key, token = services.create_api_key("ci", None, ops_user)
    before = AuditEvent.objects.count()
    ApiKey.authenticate(token)
    key.refresh_from_db()
    key.save()  # nothing tracked changed
    assert AuditEvent.objects.count() == before


def test_events_cannot_be_changed_or_deleted():
    agent = make_agent("Refunds")
    event = AuditEvent.objects.filter(object_id=str(agent.pk)).first()
    with pytest.raises(ValueError):
        event.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_the_page_lists_filters_and_exports(ops_client, ops_user):
    with acting_as(ops_user):
        make_agent("=cmd|' /C calc'!A0")
        services.create_api_key("ci", None, ops_user)
    page = ops_client.get(reverse("registry:audit_log"), {"object_type": "agent"})
    assert page.status_code == 200
    assert [e.object_type for e in page.context["events"]] == ["agent"]
    export = ops_client.get(reverse("registry:audit_export"))
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0][:3] == ["At (UTC)", "Who", "Action"]
    assert any(r[5] == "'=cmd|' /C calc'!A0" for r in rows[1:])


def test_the_page_has_an_empty_state_and_refuses_bad_dates(ops_client):
    assert "No changes recorded" in ops_client.get(reverse("registry:audit_log"), {"object_type": "none"}).content.decode()
    response = ops_client.get(reverse("registry:audit_log"), {"date_from": "0001-01-01"})
    assert response.status_code == 400
    assert ops_client.get(reverse("registry:audit_export"), {"date_from": "9999-12-31"}).status_code == 400


def test_only_operations_read_the_audit_log(finance_client, reviewer_client):
    for client in (finance_client, reviewer_client):
        assert client.get(reverse("registry:audit_log")).status_code == 403
        assert client.get(reverse("registry:audit_export")).status_code == 403
