"""The site's own middleware: the Content-Security-Policy's websocket source, and the list of each
user's signed-in browsers."""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

from inbox.accounts import sessions


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the websocket of the host this page came from in connect-src.

    The workspace opens ``/ws/agent/`` on its own host. CSP Level 3 counts that as 'self', but
    browsers that predate it (Safari before 15.4, for one) refuse it unless it is named.
    """

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # already answered 400; nothing of ours runs on that page
        socket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), socket]
        parts.update = update
        return parts


class SessionActivityMiddleware(MiddlewareMixin):
    """Note where and when each signed-in browser was last seen (see inbox.accounts.sessions.session_seen).

    On the response, so that the login that just happened (with its new session key) is counted.
    """

    def process_response(self, request, response):
        if response.status_code < 500:
            sessions.session_seen(request=request)
        return response
