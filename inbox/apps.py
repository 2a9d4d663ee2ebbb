from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inboxes"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from inbox.realtime import agents_access_changed
        from inbox.sessions import session_signed_in

        # Django's own logout hook: a signed-out agent's open sockets close at once.
        user_logged_out.connect(
            lambda sender, user, **kwargs: user and agents_access_changed([user.pk]),
            dispatch_uid="inbox.close_sockets_on_logout",
            weak=False,
        )
        # And its login hook: each sign-in joins the user's list of sessions (inbox/sessions.py), from
        # our login page, the admin's or a test client's alike.
        user_logged_in.connect(
            lambda sender, request, user, **kwargs: session_signed_in(request=request, user=user),
            dispatch_uid="inbox.record_signed_in_session",
            weak=False,
        )
