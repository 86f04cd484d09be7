from django.urls import path

from . import views

app_name = "lifecycle"

urlpatterns = [
    path("", views.board, name="board"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("criteria/", views.criteria, name="criteria"),
    path("criteria/overrides/new/", views.criteria_override, name="override_create"),
    path("criteria/overrides/<int:pk>/", views.criteria_override, name="override_edit"),
    path("criteria/<slug:stage>/", views.criteria_stage, name="criteria_stage"),
    path("agents/<slug:slug>/", views.agent_page, name="agent"),
    path("agents/<slug:slug>/promote/", views.promote, name="promote"),
    path("agents/<slug:slug>/demote/", views.demote, name="demote"),
    path("pending/<int:pk>/approve/", views.decide, {"decision": "approve"}, name="approve"),
    path("pending/<int:pk>/reject/", views.decide, {"decision": "reject"}, name="reject"),
    path("flags/<int:pk>/dismiss/", views.dismiss_flag, name="dismiss_flag"),
]
