"""Helpers to open the site's websockets the way browsers do."""

import json

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from inbox.asgi import application

ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def agent_socket(user=None, *, origin=ORIGIN, cookie=None) -> tuple[WebsocketCommunicator, bool]:
    headers = [origin] if origin else []
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def widget_socket(token: str, *, origin=b"https://shop.example", client=("203.0.113.7", 5555)):
    communicator = WebsocketCommunicator(application, f"/ws/widget/{token}/", headers=[(b"origin", origin)])
    communicator.scope["client"] = client
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def hello(communicator, *, visitor_token=None, **identity) -> dict:
    await communicator.send_to(
        text_data=json.dumps({"type": "hello", "visitor_token": visitor_token, "identity": identity})
    )
    return await receive_json(communicator)


async def receive_json(communicator, timeout=3) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def say(communicator, text: str, client_id: str) -> dict:
    await communicator.send_to(text_data=json.dumps({"type": "message", "id": client_id, "text": text}))
    return await receive_json(communicator)


async def receive_until(communicator, needle: str, timeout=5) -> str:
    """The next frame that holds ``needle``, past others the same action sent (a row, a header)."""
    while True:
        frame = await communicator.receive_from(timeout=timeout)
        if needle in frame:
            return frame
