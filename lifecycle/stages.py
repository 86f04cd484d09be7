"""The stage ladder (pure, no ORM): Pilot -> Integrate -> Scale -> Optimize; Retired stands aside."""

from __future__ import annotations

from agentops.models import LifecycleStage

PILOT, INTEGRATE, SCALE, OPTIMIZE, RETIRED = (
    LifecycleStage.PILOT, LifecycleStage.INTEGRATE, LifecycleStage.SCALE, LifecycleStage.OPTIMIZE,
    LifecycleStage.RETIRED,
)
LADDER: tuple[str, ...] = (PILOT, INTEGRATE, SCALE, OPTIMIZE)
# Board columns: the ladder, then retired agents.
COLUMNS: tuple[str, ...] = (*LADDER, RETIRED)
# Gated stages: criteria exist for entering these (a retired agent is reinstated into Pilot, gated too).
GATED: tuple[str, ...] = LADDER
LABELS: dict[str, str] = dict(LifecycleStage.choices)


def label(stage: str) -> str:
    return LABELS.get(stage, stage)


def next_stage(stage: str) -> str | None:
    """The stage a promotion leads to; None at the top of the ladder."""
    if stage == RETIRED:
        return PILOT
    index = LADDER.index(stage)
    return LADDER[index + 1] if index + 1 < len(LADDER) else None


def previous_stage(stage: str) -> str | None:
    """The stage the watch suggests demoting to; None for Pilot and Retired."""
    if stage not in LADDER or stage == PILOT:
        return None
    return LADDER[LADDER.index(stage) - 1]


def demotion_targets(stage: str) -> list[str]:
    """Stages an agent may be demoted to: any lower rung, or retirement."""
    lower = list(LADDER[: LADDER.index(stage)]) if stage in LADDER else []
    return [*lower, RETIRED] if stage != RETIRED else []
