"""Project-level views: the start page, health check and error pages in the site's layout."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

from . import health
from .navigation import visible_items


def login(request: HttpRequest) -> HttpResponse:
    """The sign-in page: local accounts, plus the single sign-on button when it is configured."""
    extra = {"oidc_enabled": settings.OIDC_ENABLED, "oidc_provider_name": settings.OIDC_PROVIDER_NAME,
             "sso_failed": request.GET.get("sso") == "failed"}
    return auth_views.LoginView.as_view(redirect_authenticated_user=True, extra_context=extra)(request)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each user to the first page of their navigation (the first page their roles open)."""
    items = visible_items(request.user)
    if items:
        return redirect(items[0].url)
    return render(
        request,
        "error.html",
        {
            "status": 403,
            "title": "No role yet",
            "message": "Your account has no role (Operations, Reviewers or Finance). Ask an administrator to add one.",
        },
        status=403,
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and tools ask for /favicon.ico whatever the page links: send them to the SVG icon."""
    return redirect(static("favicon.svg"), permanent=True)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and worker (agentops.health). 503 only without the database."""
    body, healthy = health.report()
    return JsonResponse(body, status=200 if healthy else 503)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "Your account does not have access to this page."
    return render(request, "error.html", {"status": 403, "title": "Forbidden", "message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"status": 404, "title": "Page not found", "message": "There is nothing at this address."},
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"status": 500, "title": "Something went wrong", "message": "The error was logged. Please try again."},
        status=500,
    )
