"""Stand-ins for providers we cannot reach: real HTTP servers on localhost that speak the provider's
documented API, errors included, and record what they were asked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


class StandInHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _bytes(self, status: int, content_type: str, content: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _json(self, status: int, body: dict) -> None:
        self._bytes(status, "application/json", json.dumps(body).encode())


class StandInServer:
    """A threaded HTTP server on a free localhost port."""

    def serve(self, handler: type[StandInHandler]):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials): the errors they give.
TWILIO_MAGIC_ERRORS = {
    "+15005550001": (400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (400, 21614, "'To' number is not a valid mobile number"),
}


@dataclass
class TwilioStandIn(StandInServer):
    """Twilio's Messages resource (2010-04-01) and MMS media, for one account."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "stand-in-auth-token"
    requests: list[dict] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    server_errors: int = 0  # answer the next N sends with a 500
    slow_answers: float = 0.0  # take the message, then answer this many seconds late (a lost answer)
    media_fetched: list[tuple] = field(default_factory=list)  # (url, status, content type, body) of MMS media
    friendly_name: str = "Acme Support"
    account_status: str = "active"  # or "suspended", "closed"

    def start(self) -> TwilioStandIn:
        stand_in = self

        class Handler(StandInHandler):
            def _authorized(self) -> bool:
                expected = base64.b64encode(f"{stand_in.account_sid}:{stand_in.auth_token}".encode()).decode()
                return self.headers.get("Authorization") == f"Basic {expected}"

            def _error(self, status: int, code: int, message: str) -> None:
                more = f"https://www.twilio.com/docs/errors/{code}"
                self._json(status, {"code": code, "message": message, "more_info": more, "status": status})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fields = parse_qs(self.rfile.read(length).decode())
                form = {k: v[-1] for k, v in fields.items()}
                media = fields.get("MediaUrl", [])  # repeated, up to 10
                if media:
                    form["MediaUrl"] = media
                if not self._authorized():
                    return self._error(401, 20003, "Authenticate")
                if self.path != f"/2010-04-01/Accounts/{stand_in.account_sid}/Messages.json":
                    return self._error(404, 20404, "The requested resource was not found")
                stand_in.requests.append({"path": self.path, "form": form})
                if stand_in.slow_answers:
                    time.sleep(stand_in.slow_answers)
                if stand_in.server_errors > 0:
                    stand_in.server_errors -= 1
                    return self._error(500, 20500, "Internal Server Error")
                if form.get("To") in TWILIO_MAGIC_ERRORS:
                    return self._error(*TWILIO_MAGIC_ERRORS[form["To"]])
                if not form.get("Body") and not form.get("MediaUrl"):
                    return self._error(400, 21602, "Message body is required.")
                # Twilio fetches each media URL itself, unauthenticated, and checks what it gets.
                for url in media:
                    stand_in.media_fetched.append(_fetch(url))
                sid = "SM" + uuid.uuid4().hex
                self._json(
                    201,
                    {
                        "sid": sid,
                        "account_sid": stand_in.account_sid,
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{stand_in.account_sid}/Messages/{sid}.json",
                    },
                )

            def do_GET(self):
                if not self._authorized():
                    return self._error(401, 20003, "Authenticate")
                if self.path == f"/2010-04-01/Accounts/{stand_in.account_sid}.json":
                    return self._json(200, stand_in.account())
                if self.path not in stand_in.media:
                    return self._error(404, 20404, "The requested resource was not found")
                self._bytes(200, *stand_in.media[self.path])

        return self.serve(Handler)

    def account(self) -> dict:
        """The Account resource, as Twilio's API returns it (the fields we read, and a few more)."""
        return {
            "sid": self.account_sid,
            "friendly_name": self.friendly_name,
            "status": self.account_status,
            "type": "Full",
            "owner_account_sid": self.account_sid,
            "date_created": "Mon, 02 Jan 2023 10:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
        }

    def add_media(self, message_sid: str, content_type: str, content: bytes) -> str:
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/ME{uuid.uuid4().hex}"
        self.media[path] = (content_type, content)
        return self.base_url + path


@pytest.fixture
def twilio(settings):
    stand_in = TwilioStandIn().start()
    settings.TWILIO_API_BASE_URL = stand_in.base_url
    try:
        yield stand_in
    finally:
        stand_in.stop()


@dataclass
class GraphStandIn(StandInServer):
    """Meta's Graph API for Messenger: the Send API and user profiles, errors as Meta sends them."""

    version: str = "v23.0"
    page_token: str = "EAAG-stand-in-page-token"
    page_id: str = "1234567890123"
    page_name: str = "Acme Support"
    app_secret: str = ""  # when set, an appsecret_proof given with a call must match it
    requests: list[dict] = field(default_factory=list)
    profile_requests: list[str] = field(default_factory=list)
    media_fetched: list[tuple] = field(default_factory=list)  # (url, status, content type, body) of attachments
    revoked: bool = False
    rate_limited: int = 0  # answer the next N sends with "too many calls"
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # Meta's CDN, for attachments

    def start(self) -> GraphStandIn:
        stand_in = self

        class Handler(StandInHandler):
            def _error(self, status: int, code: int, message: str, kind="OAuthException", subcode=None) -> None:
                error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}
                if subcode:
                    error["error_subcode"] = subcode
                self._json(status, {"error": error})

            def _token_ok(self, query: dict) -> bool:
                if stand_in.revoked:
                    self._error(
                        400,
                        190,
                        "Error validating access token: The session has been invalidated because the user "
                        "changed their password or Facebook has changed the session for security reasons.",
                        subcode=460,
                    )
                    return False
                if query.get("access_token") != stand_in.page_token:
                    self._error(400, 190, "Invalid OAuth access token - Cannot parse access token")
                    return False
                return True

            def do_POST(self):
                path, _, query_string = self.path.partition("?")
                query = {k: v[-1] for k, v in parse_qs(query_string).items()}
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if path != f"/{stand_in.version}/me/messages":
                    return self._error(404, 803, "Unknown path", kind="GraphMethodException")
                if not self._token_ok(query):
                    return
                stand_in.requests.append(body)
                attachment = (body.get("message") or {}).get("attachment")
                if attachment:
                    # Meta downloads an attachment from its payload's URL before sending it on.
                    fetched = _fetch(attachment["payload"]["url"])
                    stand_in.media_fetched.append(fetched)
                    if fetched[1] != 200:
                        return self._error(
                            400, 100, "(#100) Failed to fetch the file from the url", kind="OAuthException"
                        )
                if stand_in.rate_limited > 0:
                    stand_in.rate_limited -= 1
                    return self._error(400, 613, "Calls to this api have exceeded the rate limit.")
                self._json(
                    200,
                    {"recipient_id": body["recipient"]["id"], "message_id": "m_" + uuid.uuid4().hex},
                )

            def do_GET(self):
                path, _, query_string = self.path.partition("?")
                if path in stand_in.media:  # the CDN needs no token: its URLs are signed and expire
                    return self._bytes(200, *stand_in.media[path])
                query = {k: v[-1] for k, v in parse_qs(query_string).items()}
                psid = path.rsplit("/", 1)[-1]
                if not self._token_ok(query):
                    return
                if "appsecret_proof" in query and stand_in.app_secret:
                    proof = hmac.new(stand_in.app_secret.encode(), query["access_token"].encode(), hashlib.sha256)
                    if not hmac.compare_digest(proof.hexdigest(), query["appsecret_proof"]):
                        return self._error(400, 100, "Invalid appsecret_proof provided in the API argument")
                if path == f"/{stand_in.version}/me":  # the page the token speaks for
                    return self._json(200, {"id": stand_in.page_id, "name": stand_in.page_name})
                stand_in.profile_requests.append(psid)
                self._json(200, {"first_name": "Hedy", "last_name": "Lamarr", "id": psid})

        return self.serve(Handler)

    def add_media(self, name: str, content_type: str, content: bytes) -> str:
        path = f"/v/t1.15752-9/{name}"
        self.media[path] = (content_type, content)
        return self.base_url + path


@pytest.fixture
def graph(settings):
    stand_in = GraphStandIn().start()
    settings.GRAPH_API_BASE_URL, settings.GRAPH_API_VERSION = stand_in.base_url, stand_in.version
    settings.MESSENGER_MEDIA_HOSTS = ["127.0.0.1"]  # the stand-in is the CDN; nothing else is fetched
    try:
        yield stand_in
    finally:
        stand_in.stop()


def _fetch(url: str) -> tuple:
    """What a provider gets fetching a media URL of ours: (url, status, content type, body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return url, response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return url, exc.code, "", b""
