from django.urls import path

from . import views

app_name = "handoffs"

urlpatterns = [
    path("", views.queue_list, name="queue_list"),
    path("mine/", views.my_tickets, name="my_tickets"),
    path("metrics/", views.metrics, name="metrics"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/queues/new/", views.queue_edit, name="queue_create"),
    path("settings/queues/<slug:slug>/", views.queue_edit, name="queue_edit"),
    path("settings/queues/<slug:slug>/reroute/", views.queue_reroute, name="queue_reroute"),
    path("settings/root-causes/new/", views.root_cause_edit, name="root_cause_create"),
    path("settings/root-causes/<int:pk>/", views.root_cause_edit, name="root_cause_edit"),
    path("settings/saved-replies/new/", views.saved_reply_edit, name="saved_reply_create"),
    path("settings/saved-replies/<int:pk>/", views.saved_reply_edit, name="saved_reply_edit"),
    path("search/", views.search, name="search"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue"),
    path("queues/<slug:slug>/bulk/", views.queue_bulk, name="queue_bulk"),
    path("queues/<slug:slug>/claim-next/", views.claim_next, name="claim_next"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket"),
    path("tickets/<int:pk>/<slug:action>/", views.ticket_action, name="ticket_action"),
]
