"""Secrets out of everything rtmock writes: transcripts, logs, reports.

`rtmock proxy` relays a client's session to the real service, with the client's own key or one
given to rtmock (`RTMOCK_UPSTREAM_API_KEY`). Frames go over the wire unchanged; what rtmock *keeps*
of them never holds a secret. A `Secrets` collects every secret value a session shows (the key
headers `Authorization` and `api-key`, the browser subprotocol `openai-insecure-api-key.<key>`, key
and token query parameters, the environment key, and the ephemeral `client_secret` values the
service hands out in session events) and replaces each with `[redacted]` wherever it appears.

What belongs here: recognising secrets and removing them from text, URLs and events. What does
not: where the redacted values go (the relay, `relay.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "KEY_SUBPROTOCOL_PREFIX",
    "REDACTED",
    "SECRET_HEADERS",
    "Secrets",
    "is_secret_query_name",
]

REDACTED = "[redacted]"

#: Request headers that carry a credential (compared lower-case).
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "ocp-apim-subscription-key", "proxy-authorization",
                            "cookie"})

#: Browsers cannot set headers: the service takes the key as a websocket subprotocol with this prefix.
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."

#: Event fields whose value is a credential: `client_secret` (an ephemeral token, `{value, expires_at}`
#: or plain text), and keys a client might put in an event by mistake.
_SECRET_FIELDS = frozenset({"client_secret", "api_key", "api-key", "authorization", "ephemeral_key", "access_token"})

#: Query parameters that carry a credential: Azure's `api-key=` (browsers), tokens, signatures.
_SECRET_QUERY = re.compile(r"key|token|secret|sig|auth|password|credential", re.IGNORECASE)

#: A value shorter than this is not treated as a secret to search for (it would match everywhere).
_MIN_SECRET = 6


def is_secret_query_name(name: str) -> bool:
    return bool(_SECRET_QUERY.search(name))


class Secrets:
    """The secret values of one relay (and its sessions), and the means to keep them out of text."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Remember a secret: from now on it is redacted wherever it appears."""
        if not value:
            return
        value = value.strip()
        if value[:7].lower() in ("bearer ", "basic "):  # the scheme is no secret; what follows it is
            value = value.split(" ", 1)[1].strip()
        if len(value) >= _MIN_SECRET:
            self._values.add(value)

    def add_headers(self, headers: Mapping[str, str]) -> None:
        """Remember the credentials a request carries (headers, the key subprotocol)."""
        for name, value in headers.items():
            lower = name.lower()
            if lower in SECRET_HEADERS:
                self.add(value)
            elif lower == "sec-websocket-protocol":
                for proto in value.split(","):
                    proto = proto.strip()
                    if proto.startswith(KEY_SUBPROTOCOL_PREFIX):
                        self.add(proto[len(KEY_SUBPROTOCOL_PREFIX):])

    def add_url(self, url: str) -> None:
        """Remember the credentials in a URL (its user info, key and token query parameters)."""
        parts = urlsplit(url)
        self.add(parts.password)
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if is_secret_query_name(name):
                self.add(value)

    @property
    def empty(self) -> bool:
        return not self._values

    def text(self, text: str) -> str:
        """`text` with every known secret replaced by `[redacted]` (longest first, so that a key
        inside a longer secret is not half-shown)."""
        if not self._values:
            return text
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def url(self, url: str) -> str:
        """A URL fit for a log line or a transcript: no user info, secret query values redacted."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = urlencode([(name, REDACTED if is_secret_query_name(name) else value)
                           for name, value in parse_qsl(parts.query, keep_blank_values=True)], safe="/:[]")
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def frame(self, text: str) -> tuple[dict[str, Any] | None, str | None, bool]:
        """A frame as rtmock keeps it: ``(event, raw, changed)``. `event` is the JSON object (redacted),
        or None when the frame is not a JSON object, then `raw` holds its (redacted) text. Secret
        fields found in the event are remembered, so later frames that repeat them are redacted too."""
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            clean = self.text(text)
            return None, clean, clean != text
        if not isinstance(value, dict):
            clean = self.text(text)
            return None, clean, clean != text
        if not self._values and not _mentions_secret_field(text):
            return value, None, False
        cleaned, changed = self._scrub(value)
        assert isinstance(cleaned, dict)
        return cleaned, None, changed

    def _scrub(self, value: Any, depth: int = 0) -> tuple[Any, bool]:
        """`value` with secret fields and known secrets redacted, and whether anything was."""
        if depth > 64:
            return value, False
        if isinstance(value, str):
            clean = self.text(value)
            return clean, clean is not value and clean != value
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            changed = False
            for key, item in value.items():
                if isinstance(key, str) and key.lower() in _SECRET_FIELDS and item is not None:
                    self._remember(item)
                    out[key] = _redacted_like(item)
                    changed = True
                    continue
                out[key], moved = self._scrub(item, depth + 1)
                changed = changed or moved
            return out, changed
        if isinstance(value, list):
            items = [self._scrub(item, depth + 1) for item in value]
            return [item for item, _ in items], any(moved for _, moved in items)
        return value, False

    def _remember(self, value: Any) -> None:
        if isinstance(value, str):
            self.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, str):
                    self.add(item)


def _mentions_secret_field(text: str) -> bool:
    lower = text.lower()
    return any(f'"{name}"' in lower for name in _SECRET_FIELDS)


def _redacted_like(value: Any) -> Any:
    """The redacted stand-in for a secret field: same shape, so readers of the event still parse it
    (`client_secret: {value, expires_at}` keeps `expires_at`)."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(v, str) else v) for k, v in value.items()}
    return REDACTED
