"""A stand-in for the bot's request URL, for tests of what the fake Slack and its page send.

It checks Slack's signature, keeps each body it received (a form's ``payload``, or the JSON of an
event), and answers what ``reply(body)`` returns, as JSON (None: an empty 200, a plain ack). A
reply may call the Web API first, as a bot opens a modal on a shortcut's trigger_id.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.support import SIGNING_SECRET

Reply = Callable[[dict[str, Any]], Any]


class StandInBot:
    """Serves on 127.0.0.1 until ``close``; ``received`` lists the verified bodies, oldest first."""

    def __init__(self, reply: Reply, secret: str = SIGNING_SECRET) -> None:
        self.reply = reply
        self.received: list[dict[str, Any]] = []
        verifier = SignatureVerifier(secret)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                if not verifier.is_valid_request(raw, headers):
                    self.send_error(401)
                    return
                if "json" in headers.get("Content-Type", ""):
                    body = json.loads(raw)
                else:
                    form = dict(urllib.parse.parse_qsl(raw.decode()))
                    body = json.loads(form["payload"]) if "payload" in form else form
                outer.received.append(body)
                answer = outer.reply(body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/slack/events"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The bodies received whose ``type`` is ``kind`` (an event's is its inner event's)."""
        return [
            b
            for b in self.received
            if b.get("type") == kind or (b.get("type") == "event_callback" and b["event"]["type"] == kind)
        ]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def stand_in_bot(slack: Any, reply: Reply = lambda body: None) -> Iterator[StandInBot]:
    """``slack`` sends to a stand-in bot for the block; its earlier ``bot_url`` is put back after."""
    bot = StandInBot(reply)
    before = slack.bot_url
    slack.bot_url = bot.url
    try:
        yield bot
    finally:
        slack.bot_url = before
        bot.close()
