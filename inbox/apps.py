from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inboxes"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        from inbox.realtime import agents_access_changed

        # Django's own logout hook: a signed-out agent's open sockets close at once.
        user_logged_out.connect(
            lambda sender, user, **kwargs: user and agents_access_changed([user.pk]),
            dispatch_uid="inbox.close_sockets_on_logout",
            weak=False,
        )
