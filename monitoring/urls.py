from django.urls import path  # noqa: F401

from . import intake_views, views  # noqa: F401

app_name = "monitoring"

urlpatterns: list = []

# Live monitoring: overview, agent dashboards, run explorer, trace view, alerts.
from .dashboard_urls import urlpatterns as dashboard_urlpatterns  # noqa: E402

urlpatterns += dashboard_urlpatterns

# Telemetry intake: dead letters (monitoring.intake_views).
urlpatterns += [
    path("dead-letters/", intake_views.dead_letters, name="dead_letters"),
    path("dead-letters/<int:batch_id>/replay/", intake_views.replay_dead_letter, name="replay_dead_letter"),
    path("dead-letters/replay-all/", intake_views.replay_all_dead_letters, name="replay_all_dead_letters"),
]

# Insights: root causes, failure groups, prompt drafts, version comparison, agent map.
from .insight_urls import urlpatterns as insight_urlpatterns  # noqa: E402

urlpatterns += insight_urlpatterns
