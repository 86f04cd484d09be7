"""The watch: daily checks of each agent's current stage, a flag after N failing days."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from lifecycle import services
from lifecycle.models import WATCH_ALERT_SOURCE, LifecycleSettings, WatchCheck, WatchFlag
from lifecycle.tasks import sync_watch_alerts, watch_lifecycle
from monitoring.alerts import raised
from monitoring.alerts.models import AlertDelivery, AlertEvent, AlertRule
from monitoring.alerts.tasks import deliver_alert
from tests.factories import make_agent
from tests.monitoring.factories import make_run
from tests.receivers import webhook_receiver

from .factories import NOW, TODAY, day_cell

pytestmark = pytest.mark.django_db


def run_on(day_offset: int):
    with time_machine.travel(NOW + timedelta(days=day_offset), tick=False):
        return services.run_watch()


@pytest.fixture
def three_days(db):
    LifecycleSettings.objects.update_or_create(pk=1, defaults={"watch_days": 3})


def test_a_scale_agent_failing_for_n_days_is_flagged_with_a_demotion_suggestion(ops_user, three_days):
    agent = make_agent(owner=ops_user, lifecycle_stage="scale")  # no runs: fails Scale's criteria
    for offset in range(2):
        run_on(offset)
    assert not WatchFlag.objects.exists()
    result = run_on(2)
    assert result.flagged == 1
    flag = WatchFlag.objects.get()
    assert (flag.agent, flag.stage, flag.suggested_stage, flag.days) == (agent, "scale", "integrate", 3)
    assert flag.failing_since == TODAY and "runs" in flag.failing
    assert WatchCheck.objects.filter(agent=agent).count() == 3


def test_running_twice_a_day_keeps_one_check_and_one_flag(ops_user, three_days):
    make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in (0, 0, 1, 2, 2):
        run_on(offset)
    assert WatchCheck.objects.count() == 3 and WatchFlag.objects.count() == 1


def test_a_gap_or_a_passing_day_breaks_the_run(ops_user, three_days):
    make_agent(owner=ops_user, lifecycle_stage="scale")
    run_on(0)
    run_on(2)  # day 1 was never checked
    assert not WatchFlag.objects.exists()


def test_passing_again_clears_the_flag(ops_user, three_days):
    from lifecycle.models import StageCriteria

    agent = make_agent(owner=ops_user, lifecycle_stage="integrate")
    for offset in range(3):
        run_on(offset)
    assert WatchFlag.objects.filter(resolved_at__isnull=True).count() == 1
    # Operations relax the criteria for this agent to what it does: it passes on day 3.
    StageCriteria.objects.create(stage="integrate", agent=agent, check_runs=False, check_slo=False,
                                 check_handoff_rate=False)
    result = run_on(3)
    assert result.cleared == 1
    assert WatchFlag.objects.get().resolution == "criteria met again"


def test_pilot_and_retired_agents_are_not_watched(ops_user, three_days):
    make_agent(owner=ops_user, lifecycle_stage="pilot")
    make_agent(owner=ops_user, lifecycle_stage="retired")
    assert run_on(0).checked == 0


def test_healthy_agents_are_not_flagged(ops_user, three_days):
    agent = make_agent(owner=ops_user, lifecycle_stage="integrate")
    for i in range(0, 20):
        day_cell(agent, TODAY - timedelta(days=i) + timedelta(days=3), runs=50)
    for offset in range(3):
        run_on(offset)
    assert not WatchFlag.objects.exists()
    assert WatchCheck.objects.filter(passed=True).count() == 3


def test_a_dismissed_flag_needs_another_full_run_of_failing_days(ops_user, three_days):
    make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        run_on(offset)
    with time_machine.travel(NOW + timedelta(days=2, hours=1), tick=False):
        services.dismiss_flag(WatchFlag.objects.get(), ops_user, "seasonal dip")
    run_on(3)
    run_on(4)
    assert not WatchFlag.objects.filter(resolved_at__isnull=True).exists()
    run_on(5)
    assert WatchFlag.objects.filter(resolved_at__isnull=True).count() == 1


def test_the_beat_task_runs_the_watch(ops_user, three_days):
    make_agent(owner=ops_user, lifecycle_stage="scale")
    with time_machine.travel(NOW, tick=False):
        assert watch_lifecycle.apply().get() == {"checked": 1, "failed": 1, "flagged": 0, "cleared": 0}


# ---------------------------------------------------------------------------------------------
# The watch as a monitoring alert


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the test receiver on loopback, allow-listed
    with webhook_receiver() as (url, bodies):
        yield url, bodies


def deliver_now(monkeypatch):
    """The watch task's deliveries run at once, through the real delivery task."""
    monkeypatch.setattr(deliver_alert, "delay", lambda event_id, kind: deliver_alert.apply((event_id, kind)).get())


def watch_task_on(day_offset: int) -> dict:
    with time_machine.travel(NOW + timedelta(days=day_offset), tick=False):
        return watch_lifecycle.apply().get()


def test_a_flag_raises_one_alert_delivered_to_the_rules_channels_and_resolved_when_it_clears(
        ops_user, three_days, receiver, monkeypatch, ops_client):
    from lifecycle.models import StageCriteria

    url, bodies = receiver
    deliver_now(monkeypatch)
    agent = make_agent("Refund Helper", owner=ops_user, lifecycle_stage="integrate")
    watch_task_on(0)
    rule = AlertRule.objects.get(source=WATCH_ALERT_SOURCE)  # created on first use, no channel yet
    assert rule.metric == "raised" and rule.enabled and not rule.has_channel
    rule.webhook_url, rule.email_to = url, "ops@example.com"
    rule.save()
    watch_task_on(1)
    assert not AlertEvent.objects.exists()  # two failing days of three: no flag, no alert

    watch_task_on(2)
    event = AlertEvent.objects.get()
    assert (event.rule, event.agent, event.is_open) == (rule, agent, True)
    assert "Refund Helper" in event.message and "Integrate" in event.message and "Pilot" in event.message
    assert [(b["kind"], b["agent"], b["source"]) for b in bodies] == [("opened", agent.slug, WATCH_ALERT_SOURCE)]
    assert len(mail.outbox) == 1 and "Refund Helper" in mail.outbox[0].subject
    assert AlertDelivery.objects.filter(event=event, kind="opened", ok=True).count() == 2

    # Shown where alerts are shown: the overview banner (once there is telemetry) and the alerts page.
    make_run(agent)
    assert "Refund Helper has failed its Integrate criteria" in ops_client.get(reverse("monitoring:overview")).content.decode()
    assert "Refund Helper has failed its Integrate criteria" in ops_client.get(reverse("monitoring:alerts")).content.decode()

    # Still flagged the next day (and a second run the same day): the same alert, nothing sent again.
    watch_task_on(3)
    watch_task_on(3)
    assert AlertEvent.objects.count() == 1 and len(bodies) == 1

    # The agent passes again: the flag clears and the alert resolves, and that is delivered too.
    StageCriteria.objects.create(stage="integrate", agent=agent, check_runs=False, check_slo=False,
                                 check_handoff_rate=False)
    assert watch_task_on(4)["cleared"] == 1
    event.refresh_from_db()
    assert not event.is_open
    assert [b["kind"] for b in bodies] == ["opened", "resolved"]
    assert "Refund Helper has failed" not in ops_client.get(reverse("monitoring:overview")).content.decode()


def test_a_failing_receiver_is_recorded_and_the_watch_goes_on(ops_user, three_days, monkeypatch, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    deliver_now(monkeypatch)
    raised.rule_for(WATCH_ALERT_SOURCE, "watch")
    AlertRule.objects.filter(source=WATCH_ALERT_SOURCE).update(webhook_url="http://127.0.0.1:9/unreachable")
    make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        watch_task_on(offset)
    assert WatchFlag.objects.filter(resolved_at__isnull=True).count() == 1
    delivery = AlertDelivery.objects.get()
    assert not delivery.ok and delivery.error == "The receiver could not be reached."


def test_a_private_receiver_is_refused_by_the_ssrf_guard(ops_user, three_days, monkeypatch):
    deliver_now(monkeypatch)
    raised.rule_for(WATCH_ALERT_SOURCE, "watch")
    AlertRule.objects.filter(source=WATCH_ALERT_SOURCE).update(webhook_url="http://10.0.0.5/hook")
    make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        watch_task_on(offset)
    delivery = AlertDelivery.objects.get()
    assert not delivery.ok and delivery.error


def test_a_switched_off_watch_rule_raises_nothing(ops_user, three_days):
    raised.rule_for(WATCH_ALERT_SOURCE, "watch")
    AlertRule.objects.filter(source=WATCH_ALERT_SOURCE).update(enabled=False)
    make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        run_on(offset)
    assert WatchFlag.objects.count() == 1 and not AlertEvent.objects.exists()


def test_each_flagged_agent_has_its_own_alert_and_a_dismissal_resolves_its_own(ops_user, three_days):
    first = make_agent(owner=ops_user, lifecycle_stage="scale")
    second = make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        result = run_on(offset)
    assert len(result.deliveries) == 2
    assert set(AlertEvent.objects.filter(resolved_at__isnull=True).values_list("agent", flat=True)) == {
        first.id, second.id}
    with time_machine.travel(NOW + timedelta(days=2, hours=1), tick=False):
        services.dismiss_flag(WatchFlag.objects.get(agent=first), ops_user, "seasonal dip")
        assert sync_watch_alerts.apply().get() == 1
    assert list(AlertEvent.objects.filter(resolved_at__isnull=True).values_list("agent", flat=True)) == [second.id]


def test_the_watch_alert_does_not_count_against_the_alerts_criterion(ops_user, three_days):
    from lifecycle.evidence import measure_one

    agent = make_agent(owner=ops_user, lifecycle_stage="scale")
    for offset in range(3):
        run_on(offset)
    assert AlertEvent.objects.filter(agent=agent, resolved_at__isnull=True).exists()
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        alerts = next(r for r in measure_one(agent, "scale").results if r.key == "alerts")
    assert alerts.passed is True
