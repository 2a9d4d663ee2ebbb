from django.urls import path
from django.views.generic import RedirectView

app_name = "settings"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="settings:inbox_list"), name="home"),
]
