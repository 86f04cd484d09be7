"""Every model of the monitoring app, gathered where Django looks for them; each is defined in its
sub-package (intake, ingest, rollups, alerts)."""

from monitoring.alerts.models import BELOW_METRICS, AlertDelivery, AlertEvent, AlertMetric, AlertRule  # noqa: F401
from monitoring.ingest.derived_models import HUMAN_QUEUE, EdgeKind, InteractionEdge  # noqa: F401
from monitoring.ingest.models import (  # noqa: F401
    Announcement,
    Escalation,
    Invocation,
    Run,
    RunStatus,
    Score,
    Step,
    StepKind,
)
from monitoring.intake.models import InboxBatch  # noqa: F401
from monitoring.rollups.insight_models import (  # noqa: F401
    EdgeCell,
    FailureCell,
    FailureSignatureRecord,
    VersionCell,
)
from monitoring.rollups.models import TIER_SPAN, TIER_TRUNC, RollupCell, Tier  # noqa: F401
