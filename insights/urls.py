"""Insights routes (namespace ``insights``), served under /monitoring/ beside the live pages."""

from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("root-causes/", views.root_causes, name="root_causes"),
    path("root-causes/<str:fingerprint>/", views.failure_group, name="failure_group"),
    path("root-causes/<str:fingerprint>/mark/", views.failure_group_mark, name="failure_group_mark"),
    path("root-causes/<str:fingerprint>/draft/", views.draft_from_group, name="prompt_draft_from_group"),
    path("prompt-drafts/from-ticket/<int:ticket_id>/", views.draft_from_ticket, name="prompt_draft_from_ticket"),
    path("agents/<slug:slug>/compare/", views.compare, name="compare"),
    path("map/", views.agent_map, name="agent_map"),
]
