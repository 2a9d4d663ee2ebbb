"""Helpers every connector's parser uses."""

import json
from datetime import UTC, datetime

import nh3
import requests

from inbox.connectors.contract import ParseError


def load_json_object(raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object")
    return data


def require_str(data: dict, key: str, *, max_length: int = 10_000) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(f"missing or invalid '{key}'")
    if len(value) > max_length:
        raise ParseError(f"'{key}' longer than {max_length} characters")
    return value


def utc_from_timestamp(value, *, default: datetime | None = None) -> datetime:
    """Read seconds (or milliseconds) since the epoch, or ISO 8601, as an aware UTC datetime."""
    if value in (None, ""):
        if default is None:
            raise ParseError("missing timestamp")
        return default
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        parsed = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError) as exc:
        raise ParseError(f"bad timestamp {value!r}") from exc
    if parsed.tzinfo is None:
        raise ParseError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


# Images only from inside the mail (cid:, served later from our own storage): a remote image tells
# its sender when and where an agent opened the message.
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}


def _only_inline_images(element: str, attribute: str, value: str) -> str | None:
    is_cid = value.strip().lower().startswith("cid:")
    if element == "img" and attribute == "src":
        return value if is_cid else None
    return None if is_cid else value


def sanitize_html(html: str) -> str:
    """Make outside HTML safe to show agents: an allow-list of tags, attributes and URL schemes."""
    if not html:
        return ""
    return nh3.clean(
        html,
        url_schemes=URL_SCHEMES,
        attribute_filter=_only_inline_images,
        link_rel="noopener noreferrer nofollow",
    )


def download_limited(url: str, *, limit: int, auth: tuple[str, str] | None = None) -> tuple[bytes, str]:
    """Fetch a provider's media (the caller has checked the host): the bytes and their type, or
    ParseError past ``limit`` bytes or on an HTTP error."""
    try:
        with requests.get(url, auth=auth, timeout=15, stream=True) as response:
            response.raise_for_status()
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > limit:
                    raise ParseError(f"media over {limit} bytes: {url}")
            return content, response.headers.get("Content-Type", "application/octet-stream").split(";")[0]
    except requests.RequestException as exc:
        raise ParseError(f"media could not be fetched: {exc}") from exc
