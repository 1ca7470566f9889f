"""A Bolt app served as any Bolt user serves it: Bolt's own WSGI adapter (its signature check and
body parsing) at /slack/events, on the bot's HTTP server, with the /healthz the bench waits for.

The floor and the naive bot stand for what others write with slack-bolt, so they keep Bolt's
request handling; ours has its own adapter (`bot.slack_endpoint`), whose cost is part of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.http import EVENTS_PATH, make_wsgi


def bolt_served(app: App) -> Callable[..., Iterable[bytes]]:
    """`app` behind Bolt's own WSGI adapter at EVENTS_PATH; /healthz and /metrics as the bot's."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    rest = make_wsgi(None)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == EVENTS_PATH:
            return bolt(environ, start_response)
        return rest(environ, start_response)

    return wsgi
