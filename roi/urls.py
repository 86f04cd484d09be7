from django.urls import path

from . import views

app_name = "roi"

urlpatterns = [
    path("", views.report, name="report"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.xlsx", views.export_xlsx, name="export_xlsx"),
    path("print/", views.print_view, name="print"),
    path("assumptions/", views.assumptions, name="assumptions"),
    path("close/", views.close_period, name="close_period"),
    path("spend/", views.spend, name="spend"),
    path("tickets/", views.tickets, name="tickets"),
    path("runs/", views.runs, name="runs"),
]
