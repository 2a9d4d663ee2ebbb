from django.urls import path
from django.views.generic import RedirectView

from inbox.accounts import views as account_views
from inbox.administration.catalog import views as catalog_views
from inbox.administration.events import views as event_views
from inbox.administration.inboxes import views as inbox_views
from inbox.administration.people import views as people_views
from inbox.administration.service_levels import views as sla_views
from inbox.audit import views as audit_views

app_name = "settings"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="settings:inbox_list"), name="home"),
    path("inboxes/", inbox_views.inbox_list, name="inbox_list"),
    path("inboxes/new/<slug:kind>/", inbox_views.inbox_new, name="inbox_new"),
    path("inboxes/<int:inbox_id>/", inbox_views.inbox_detail, name="inbox_detail"),
    path("inboxes/<int:inbox_id>/check/", inbox_views.inbox_check, name="inbox_check"),
    path("inboxes/<int:inbox_id>/toggle/", inbox_views.inbox_toggle, name="inbox_toggle"),
    path("inboxes/<int:inbox_id>/rotate-secret/", inbox_views.inbox_rotate_secret, name="inbox_rotate_secret"),
    path("inboxes/<int:inbox_id>/delete/", inbox_views.inbox_remove, name="inbox_delete"),
    path("inboxes/<int:inbox_id>/replay/", event_views.inbox_events_replay, name="inbox_events_replay"),
    path("people/", people_views.people, name="people"),
    path("people/<int:user_id>/", people_views.person, name="person"),
    path("people/<int:user_id>/toggle/", people_views.person_toggle, name="person_toggle"),
    path("people/<int:user_id>/sign-out/", people_views.person_sign_out, name="person_sign_out"),
    path("events/", event_views.event_list, name="events"),
    path("service-levels/", sla_views.policy_list, name="sla_policies"),
    path("service-levels/<int:policy_id>/", sla_views.policy_edit, name="sla_policy_edit"),
    path("service-levels/<int:policy_id>/delete/", sla_views.policy_remove, name="sla_policy_delete"),
    *[
        pattern
        for section in catalog_views.CATALOGS
        for pattern in (
            path(f"{section}/", catalog_views.catalog_list, {"section": section}, name=section),
            path(f"{section}/<int:item_id>/", catalog_views.catalog_edit, {"section": section}, name=f"{section}_edit"),
            path(
                f"{section}/<int:item_id>/delete/",
                catalog_views.catalog_delete,
                {"section": section},
                name=f"{section}_delete",
            ),
        )
    ],
    path("events/<int:event_id>/", event_views.event_detail, name="event_detail"),
    path("events/<int:event_id>/replay/", event_views.event_replay, name="event_replay"),
    path("events/<int:event_id>/archive/", event_views.event_archive, name="event_archive"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("profile/", account_views.profile, name="profile"),
    path("sessions/", account_views.session_list, name="sessions"),
    path("sessions/<int:session_id>/sign-out/", account_views.session_revoke, name="session_revoke"),
    path("sessions/sign-out-others/", account_views.sessions_revoke_others, name="sessions_revoke_others"),
]
