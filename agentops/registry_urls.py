"""Registry pages, mounted at /registry/ (namespace "registry"; nav entries in navigation.py)."""

from django.urls import path

from . import registry_views as views
from . import security_views

app_name = "registry"

urlpatterns = [
    path("agents/", views.agent_list, name="agent_list"),
    path("agents/new/", views.agent_create, name="agent_create"),
    path("agents/<slug:slug>/", views.agent_detail, name="agent_detail"),
    path("agents/<slug:slug>/edit/", views.agent_edit, name="agent_edit"),
    path("agents/<slug:slug>/adopt/", views.agent_adopt, name="agent_adopt"),
    path("agents/<slug:slug>/archive/", views.agent_archive, name="agent_archive"),
    path("agents/<slug:slug>/prompts/", views.prompt_list, name="prompt_list"),
    path("agents/<slug:slug>/prompts/new/", views.prompt_create, name="prompt_create"),
    path("agents/<slug:slug>/prompts/diff/", views.prompt_diff, name="prompt_diff"),
    path("agents/<slug:slug>/prompts/<int:version>/", views.prompt_detail, name="prompt_detail"),
    path("agents/<slug:slug>/prompts/<int:version>/activate/", views.prompt_activate, name="prompt_activate"),
    path("agents/<slug:slug>/prompts/<int:version>/rollout/", views.prompt_rollout, name="prompt_rollout"),
    path("agents/<slug:slug>/rollout/rollback/", views.rollout_rollback, name="rollout_rollback"),
    path("agents/<slug:slug>/rollout/promote/", views.rollout_promote, name="rollout_promote"),
    path("api-keys/", views.apikey_list, name="apikey_list"),
    path("api-keys/new/", views.apikey_create, name="apikey_create"),
    path("api-keys/<int:pk>/created/", views.apikey_created, name="apikey_created"),
    path("api-keys/<int:pk>/revoke/", views.apikey_revoke, name="apikey_revoke"),
    path("model-prices/", views.modelprice_list, name="modelprice_list"),
    path("model-prices/<int:pk>/delete/", views.modelprice_delete, name="modelprice_delete"),
    path("departments/", views.department_list, name="department_list"),
    path("departments/new/", views.department_create, name="department_create"),
    path("departments/<int:pk>/edit/", views.department_edit, name="department_edit"),
    path("audit/", security_views.audit_log, name="audit_log"),
    path("audit/export.csv", security_views.audit_export, name="audit_export"),
    path("sign-in-locks/", security_views.signin_locks, name="signin_locks"),
    path("sign-in-locks/<int:pk>/unlock/", security_views.signin_unlock, name="signin_unlock"),
    path("users/", security_views.user_list, name="user_list"),
    path("users/<int:pk>/departments/", security_views.user_departments, name="user_departments"),
]
