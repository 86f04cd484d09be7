"""The watch: daily checks of each agent's current stage, a flag after N failing days."""

from datetime import timedelta

import pytest
import time_machine

from lifecycle import services
from lifecycle.models import LifecycleSettings, WatchCheck, WatchFlag
from lifecycle.tasks import watch_lifecycle
from tests.factories import make_agent

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
