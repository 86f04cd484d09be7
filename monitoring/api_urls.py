"""Machine endpoints (no session auth, no CSRF): OTLP/HTTP and the native JSON API."""

from django.urls import path

from monitoring.ingest import views as ingest_views
from monitoring.intake import views as intake_views

urlpatterns: list = [
    path("v1/traces", intake_views.otlp_traces, name="otlp_traces"),
    path("api/v1/runs", intake_views.api_runs, name="api_runs"),
    path("api/v1/runs/<str:trace_id>/feedback", ingest_views.api_feedback, name="api_feedback"),
    path("api/v1/openapi.json", intake_views.api_openapi, name="api_openapi"),
]
