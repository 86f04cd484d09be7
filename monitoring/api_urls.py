"""Machine endpoints (no session auth, no CSRF): OTLP/HTTP and the native JSON API."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
