from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inboxes"

    def ready(self):
        self._wire_seams()
        self._connect_auth_hooks()

    @staticmethod
    def _wire_seams():
        """The two seams by which the lower layers reach the higher ones (docs/architecture.md): the
        site, which sits above everything, plugs the channels and the workspace in here."""
        from conversations import listeners
        from inbox.connectors import registry
        from inbox.connectors.email.connector import EmailConnector
        from inbox.connectors.fake import FakeConnector
        from inbox.connectors.messenger.connector import MessengerConnector
        from inbox.connectors.sms.connector import SmsConnector
        from inbox.connectors.webchat.connector import WebchatConnector
        from inbox.workspace import broadcasts

        # Conversations parse and send through the connector of each inbox's kind.
        for connector in (WebchatConnector(), EmailConnector(), SmsConnector(), MessengerConnector(), FakeConnector()):
            registry.register(connector)
        # What conversations change, the workspace renders and publishes to agents' sockets.
        listeners.listen(broadcasts)

    @staticmethod
    def _connect_auth_hooks():
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from inbox.accounts.sessions import session_signed_in
        from inbox.realtime.publisher import agents_access_changed

        # Django's own logout hook: a signed-out agent's open sockets close at once.
        user_logged_out.connect(
            lambda sender, user, **kwargs: user and agents_access_changed([user.pk]),
            dispatch_uid="inbox.close_sockets_on_logout",
            weak=False,
        )
        # And its login hook: each sign-in joins the user's list of sessions (inbox/accounts/sessions.py),
        # from our login page, the admin's or a test client's alike.
        user_logged_in.connect(
            lambda sender, request, user, **kwargs: session_signed_in(request=request, user=user),
            dispatch_uid="inbox.record_signed_in_session",
            weak=False,
        )
