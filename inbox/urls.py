from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from inbox import people_views, webhook_views, widget_views

urlpatterns = [
    path("", include("inbox.workspace_urls")),
    path("settings/", include("inbox.settings_urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("invite/<str:uidb64>/<str:token>/", people_views.accept_invitation, name="accept_invitation"),
    path("admin/", admin.site.urls),
    path(
        "hooks/email/<str:token>/<slug:provider>/",
        webhook_views.email_provider_webhook,
        name="email_provider_webhook",
    ),
    path("hooks/<str:kind>/<str:token>/", webhook_views.inbound_webhook, name="inbound_webhook"),
    path("try/<str:token>/", widget_views.widget_demo_page, name="widget_demo"),
]
