from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from inbox.accounts import views as account_views
from inbox.connectors.email import views as email_views
from inbox.connectors.webchat import views as webchat_views
from inbox.surveys import views as survey_views
from inbox.webhooks import views as webhook_views
from inbox.workspace import views as workspace_views

urlpatterns = [
    path("", include("inbox.workspace.urls")),
    path("settings/", include("inbox.administration.urls")),
    path("reports/", include("inbox.reports.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("invite/<str:uidb64>/<str:token>/", account_views.accept_invitation, name="accept_invitation"),
    path("admin/", admin.site.urls),
    path(
        "hooks/email/<str:token>/<slug:provider>/",
        email_views.email_provider_webhook,
        name="email_provider_webhook",
    ),
    path("hooks/<str:kind>/<str:token>/", webhook_views.inbound_webhook, name="inbound_webhook"),
    path("try/<str:token>/", webchat_views.widget_demo_page, name="widget_demo"),
    path("widget/<str:token>/upload/", webchat_views.widget_upload, name="widget_upload"),
    path("files/<str:token>/", workspace_views.public_file, name="public_file"),
    path("csat/<str:value>/", survey_views.csat_answer, name="csat_answer"),
    # Pages without our <link rel="icon"> (the Django admin's) still get the icon browsers ask for here.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True), name="favicon"),
]
