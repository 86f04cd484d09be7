"""Routes of the live-monitoring pages (included by monitoring/urls.py under the ``monitoring`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("agents/<slug:slug>/", views.agent_dashboard, name="agent_dashboard"),
    path("runs/", views.runs, name="runs"),
    path("runs/export.csv", views.runs_export, name="runs_export"),
    path("runs/<str:trace_id>/", views.run_detail, name="run_detail"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/rules/new/", views.alert_rule_create, name="alert_rule_create"),
    path("alerts/rules/<int:pk>/", views.alert_rule_edit, name="alert_rule_edit"),
    path("alerts/rules/<int:pk>/test/", views.alert_rule_test, name="alert_rule_test"),
]
