"""Requests as Slack sends them, signed, handed straight to the bot's WSGI app in this process.

Slack signs each request with the app's signing secret: `v0=` and the hex HMAC-SHA256 of
`v0:{timestamp}:{body}` (`sandbox.sign`). `call` passes one request to the app as
waitress would and returns what a client would get back.
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from bot.http import EVENTS_PATH
from sandbox import sign
from tests.support import SIGNING_SECRET

FORM = "application/x-www-form-urlencoded"


class Answer:
    """An HTTP answer of the WSGI app, and how long it took."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, elapsed: float) -> None:
        self.code = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.elapsed = elapsed

    @property
    def text(self) -> str:
        """The answer a person sees: the ack's `text`, or the plain body."""
        raw = self.body.decode(errors="replace")
        if self.headers.get("content-type", "").startswith("application/json"):
            parsed = json.loads(raw)
            return str(parsed.get("text", raw)) if isinstance(parsed, dict) else raw
        return raw


def call(
    wsgi: Callable[..., Iterable[bytes]],
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = EVENTS_PATH,
    content_length: str | None = None,
    stream: io.BytesIO | None = None,
) -> Answer:
    """One request through the WSGI app, as waitress would hand it over."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
        "wsgi.input_terminated": True,
    }
    if not environ["CONTENT_LENGTH"]:
        del environ["CONTENT_LENGTH"]
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, response_headers

    started = time.monotonic()
    out = b"".join(wsgi(environ, start_response))
    return Answer(seen["status"], seen["headers"], out, time.monotonic() - started)


def signed(
    body: bytes, content_type: str = FORM, *, timestamp: str | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(int(time.time())) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret, ts, body),
    }


def command_form(text: str, **fields: str) -> bytes:
    form = {
        "token": "fake-verification-token",
        "team_id": "T0TEST",
        "team_domain": "test",
        "channel_id": "C0HTTP",
        "channel_name": "http",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "command": "/run-report",
        "text": text,
        "api_app_id": "A0TEST",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/response/x",
        "trigger_id": f"1.2.{uuid.uuid4().hex}",  # one per delivery, as Slack's
    }
    return urllib.parse.urlencode({**form, **fields}).encode()


def click_form(action_id: str, value: str, *, user: str, channel: str, response_url: str) -> bytes:
    """A button click (`block_actions`) as Slack posts it: the JSON in a form's `payload` field."""
    click = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone"},
        "channel": {"id": channel, "name": "somewhere"},
        "team": {"id": "T0TEST", "domain": "test"},
        "api_app_id": "A0TEST",
        "response_url": response_url,
        "trigger_id": f"1.2.{uuid.uuid4().hex}",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
