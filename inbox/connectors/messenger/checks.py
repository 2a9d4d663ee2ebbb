"""Check connection for Messenger: Graph's ``/me`` with the page token and ``appsecret_proof``, so a
wrong token, a wrong app secret or another page's token all show."""

from __future__ import annotations

import hashlib
import hmac

import requests

from inbox.connectors.contract import CHECK_TIMEOUT_SECONDS, CheckResult
from inbox.connectors.messenger.connector import TOKEN_ERRORS, graph_url
from inbox.models import Inbox


def connection_check(inbox: Inbox) -> list[CheckResult]:
    credentials, page_id = inbox.credentials or {}, str(inbox.settings.get("page_id", ""))
    token, app_secret = credentials.get("page_access_token", ""), credentials.get("app_secret", "")
    if not token:
        return [CheckResult("Facebook page", False, "the page access token is not set")]
    params = {"fields": "id,name", "access_token": token}
    if app_secret:
        # Meta checks this proof against the app's secret, so a wrong secret shows up here too.
        params["appsecret_proof"] = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    try:
        response = requests.get(graph_url("me"), params=params, timeout=CHECK_TIMEOUT_SECONDS)
        data = response.json()
    except requests.RequestException as exc:
        return [CheckResult("Facebook page", False, f"cannot reach Meta: {type(exc).__name__}")]
    except ValueError:
        return [CheckResult("Facebook page", False, f"Meta answered {response.status_code} with no JSON")]
    if not response.ok:
        error = data.get("error") or {}
        code = error.get("code")
        return [
            CheckResult(
                "Facebook page",
                False,
                f"Meta refused it (error {code}: {error.get('message', 'no message')})",
                credentials_refused=code in TOKEN_ERRORS or code == 100,
            )
        ]
    if page_id and str(data.get("id")) != page_id:
        return [
            CheckResult(
                "Facebook page",
                False,
                f"the token belongs to page {data.get('id')} ({data.get('name', '?')}), not page {page_id}",
                credentials_refused=True,
            )
        ]
    return [CheckResult("Facebook page", True, f"the token works for {data.get('name', '?')} ({data.get('id')})")]
