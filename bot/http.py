"""HTTP serving: Slack's requests at /slack/events, plus /healthz and /metrics, on waitress.

Routing only; Slack's requests go to `bot.slack_endpoint`, which bounds, verifies and parses
them before Bolt sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App

from bot.slack_endpoint import SlackEndpoint
from tasks.metrics import Health, monitoring_app

EVENTS_PATH = "/slack/events"
HTTP_THREADS = 16
# The largest body Slack sends is an interaction carrying a whole view (Slack refuses views over
# 250 kB) or a whole message (40,000 characters of text, 50 blocks); form-encoded, each byte can
# take three, and a character up to three bytes of UTF-8: under 2 MB. 4 MiB leaves room above
# that, and a body of 30 MB, or waitress's default of 1 GiB, is refused without being read.
MAX_BODY_BYTES = 4 * 1024 * 1024


def always_ok() -> tuple[bool, dict[str, Any]]:
    return True, {}


def make_wsgi(
    app: App | None,
    health: Health = always_ok,
    *,
    signing_secret: str = "",
    max_body: int = MAX_BODY_BYTES,
) -> Callable[..., Iterable[bytes]]:
    """The bot's WSGI application. `app=None` serves only /healthz and /metrics (Socket Mode);
    with an app, `signing_secret` is required: requests not signed with it are refused."""
    slack = SlackEndpoint(app, signing_secret, max_body) if app is not None else None
    monitoring = monitoring_app(health)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if slack is not None and environ.get("PATH_INFO", "") == EVENTS_PATH:
            return slack(environ, start_response)
        return monitoring(environ, start_response)

    return wsgi


def make_server(
    wsgi: Callable[..., Iterable[bytes]], host: str, port: int, max_body: int = MAX_BODY_BYTES
) -> Any:
    """A waitress server (production WSGI, threads); `.run()` serves, `.close()` stops.

    Waitress buffers a whole body before the app is called, so the limit is also its own: it
    answers 413 to a larger Content-Length, or a chunked body growing past it, as it arrives."""
    from waitress.server import create_server

    return create_server(
        wsgi,
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="reportbot",
        # waitress refuses a body of this size or more; the app's limit is inclusive
        max_request_body_size=max_body + 1,
    )
