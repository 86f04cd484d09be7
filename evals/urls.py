from django.urls import path

from . import experiment_views, views

app_name = "evals"

urlpatterns = [
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/cases/", views.add_case, name="add_case"),
    path("datasets/<int:pk>/upload/", views.upload_cases, name="upload_cases"),
    path("datasets/<int:pk>/cases/<int:case_id>/remove/", views.remove_case, name="remove_case"),
    path("add/runs/", views.add_runs, name="add_runs"),
    path("add/failure-group/<str:fingerprint>/", views.add_failure_group, name="add_failure_group"),
    path("add/tickets/", views.add_tickets, name="add_tickets"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/<int:pk>/", views.endpoint_list, name="endpoint_edit"),
    path("evaluators/", views.evaluator_list, name="evaluator_list"),
    path("online/", views.online_list, name="online_list"),
    path("online/<int:pk>/toggle/", views.online_toggle, name="online_toggle"),
    path("experiments/", experiment_views.experiment_list, name="experiment_list"),
    path("experiments/compare/", experiment_views.experiment_compare, name="experiment_compare"),
    path("experiments/<int:pk>/", experiment_views.experiment_detail, name="experiment_detail"),
    path("experiments/<int:pk>/progress/", experiment_views.experiment_progress, name="experiment_progress"),
    path("experiments/<int:pk>/cancel/", experiment_views.experiment_cancel, name="experiment_cancel"),
]
