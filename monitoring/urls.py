"""Routes of the monitoring pages (namespace ``monitoring``): live dashboards, alerts, dead letters."""

from django.urls import path

from monitoring.alerts import views as alert_views
from monitoring.dashboards import views
from monitoring.ingest import views as ingest_views

app_name = "monitoring"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("agents/<slug:slug>/", views.agent_dashboard, name="agent_dashboard"),
    path("agents/<slug:slug>/runs/", views.agent_runs, name="agent_runs"),
    path("agents/<slug:slug>/runs/export.csv", views.agent_runs_export, name="agent_runs_export"),
    path("runs/", views.runs, name="runs"),
    path("runs/export.csv", views.runs_export, name="runs_export"),
    path("runs/<str:trace_id>/", views.run_detail, name="run_detail"),
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/rules/new/", alert_views.alert_rule_create, name="alert_rule_create"),
    path("alerts/rules/<int:pk>/", alert_views.alert_rule_edit, name="alert_rule_edit"),
    path("alerts/rules/<int:pk>/test/", alert_views.alert_rule_test, name="alert_rule_test"),
    path("alerts/events/<int:pk>/<slug:action>/", alert_views.alert_event_action, name="alert_event_action"),
    path("dead-letters/", ingest_views.dead_letters, name="dead_letters"),
    path("dead-letters/<int:batch_id>/replay/", ingest_views.replay_dead_letter, name="replay_dead_letter"),
    path("dead-letters/replay-all/", ingest_views.replay_all_dead_letters, name="replay_all_dead_letters"),
    path("dead-letters/announcements/retry/", ingest_views.retry_announcements, name="retry_announcements"),
]
