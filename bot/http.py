"""HTTP serving: Slack's requests at /slack/events, plus /healthz and /metrics, on waitress.

A few dozen lines in the manner of Bolt's own adapters: route, then hand Slack's requests to
Bolt's WSGI handler unchanged (Bolt checks the signature on the raw body).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"
HTTP_THREADS = 16

Health = Callable[[], tuple[bool, dict[str, Any]]]


def always_ok() -> tuple[bool, dict[str, Any]]:
    return True, {}


def make_wsgi(app: App | None, health: Health = always_ok) -> Callable[..., Iterable[bytes]]:
    """The bot's WSGI application. `app=None` serves only /healthz and /metrics (Socket Mode)."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == EVENTS_PATH and slack is not None:
            return slack(environ, start_response)
        if path == "/healthz":
            ok, details = health()
            body = json.dumps({"ok": ok, **details}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [body]
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]

    return wsgi


def make_server(wsgi: Callable[..., Iterable[bytes]], host: str, port: int):  # type: ignore[no-untyped-def]
    """A waitress server (production WSGI, threads); `.run()` serves, `.close()` stops."""
    from waitress.server import create_server

    return create_server(wsgi, host=host, port=port, threads=HTTP_THREADS, ident="reportbot")
