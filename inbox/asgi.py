import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from inbox.connectors.webchat.consumer import WidgetConsumer  # noqa: E402
from inbox.workspace.consumer import AgentConsumer  # noqa: E402

websocket_routes = URLRouter(
    [
        # Agents' sockets carry their session cookie, so only our own pages may open them.
        path("ws/agent/", AllowedHostsOriginValidator(AuthMiddlewareStack(AgentConsumer.as_asgi()))),
        # The widget runs on customers' websites; each inbox lists the origins it allows.
        path("ws/widget/<str:token>/", WidgetConsumer.as_asgi()),
    ]
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_routes})

from django.conf import settings  # noqa: E402

if settings.EMBEDDED_BEAT:
    from inbox.celery import embedded_beat_start  # noqa: E402

    embedded_beat_start()

import gc  # noqa: E402

# Everything loaded so far (Django, the apps, the templates' code) lives as long as the process: moved
# out of the collector's reach, a full collection no longer walks it. Those walks took 60–120 ms and
# set the reports page's 99th percentile (bench/RESULTS.md, "Reports").
gc.freeze()
