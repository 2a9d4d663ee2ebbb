"""Check connection for Messenger: Graph's ``/me`` with the page token and ``appsecret_proof``, so a
wrong token, a wrong app secret or another page's token all show."""

from __future__ import annotations

import hashlib
import hmac

import requests

from inbox.connectors.contract import CHECK_TIMEOUT_SECONDS, CheckResult, plain_error, unreachable
from inbox.connectors.messenger.connector import TOKEN_ERRORS, graph_url
from inbox.models import Inbox


def connection_check(inbox: Inbox) -> list[CheckResult]:
    credentials, page_id = inbox.credentials or {}, str(inbox.settings.get("page_id", ""))
    token, app_secret = credentials.get("page_access_token", ""), credentials.get("app_secret", "")
    if not token:
        return [CheckResult("Facebook page", False, "The page access token is not set: add it above.")]
    params = {"fields": "id,name", "access_token": token}
    if app_secret:
        # Meta checks this proof against the app's secret, so a wrong secret shows up here too.
        params["appsecret_proof"] = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    try:
        response = requests.get(graph_url("me"), params=params, timeout=CHECK_TIMEOUT_SECONDS)
        data = response.json()
    except requests.RequestException as exc:
        # Requests quotes the URL, whose query string holds the token.
        technical = plain_error(exc).replace(token, "[page access token]")
        return [CheckResult("Facebook page", False, unreachable("Meta", exc), technical=technical)]
    except ValueError:
        return [
            CheckResult(
                "Facebook page",
                False,
                "Meta gave an answer we could not read; try again in a minute.",
                technical=f"HTTP {response.status_code}, not JSON",
            )
        ]
    if not response.ok:
        error = data.get("error") or {}
        code = error.get("code")
        return [
            CheckResult(
                "Facebook page",
                False,
                "Meta refused the page access token or app secret: create a new token for the page.",
                credentials_refused=code in TOKEN_ERRORS or code == 100,
                technical=f"Meta error {code}: {error.get('message', 'no message')}",
            )
        ]
    if page_id and str(data.get("id")) != page_id:
        return [
            CheckResult(
                "Facebook page",
                False,
                f"The token belongs to page {data.get('id')} ({data.get('name', '?')}), not page {page_id}.",
                credentials_refused=True,
            )
        ]
    return [CheckResult("Facebook page", True, f"The token works for {data.get('name', '?')} ({data.get('id')}).")]
