from django.urls import path

from inbox.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report, name="report"),
    path("export/conversations.csv", views.conversations_export, name="conversations_export"),
    path("export/chart.csv", views.chart_export, name="chart_export"),
]
