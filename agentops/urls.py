from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import api_views, sso, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("oidc/authenticate/", sso.SSOStartView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.SSOCallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers and tools ask for /favicon.ico whatever the page links; send them to the SVG icon.
    path("favicon.ico", views.favicon, name="favicon"),
    path("registry/", include("agentops.registry_urls")),
    path("monitoring/", include("monitoring.urls")),
    path("monitoring/", include("insights.urls")),
    path("handoffs/", include("handoffs.urls")),
    path("evals/", include("evals.urls")),
    path("roi/", include("roi.urls")),
    path("lifecycle/", include("lifecycle.urls")),
    # Machine endpoints: OTLP/HTTP at /v1/traces and the native JSON API at /api/v1/.
    path("api/v1/agents/<slug:slug>/prompt", api_views.agent_prompt, name="api_agent_prompt"),
    path("", include("monitoring.api_urls")),
    path("admin/", admin.site.urls),
]

handler403 = "agentops.views.forbidden"
handler404 = "agentops.views.not_found"
handler500 = "agentops.views.server_error"
