"""Slack's requests at /slack/events, handed to Bolt: bounded, verified, parsed, then dispatched.

In place of Bolt's `SlackRequestHandler` (WSGI), which reads a body of any size, lets its
parser drop every field of a form that contains the text "payload", and answers 500 to a
malformed timestamp or a body that is not UTF-8. Here each step refuses with a 4xx and one
short log line, and nothing of an unsigned request is parsed:

1. at most `max_body` bytes, refused by Content-Length before anything is read (413);
2. UTF-8 (400), signed by Slack within five minutes (401), on the raw bytes;
3. parsed by content type (`bot.slack_body`, 400), then given to Bolt already parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

from bot.slack_body import BadBody, parse_body
from bot.slack_signature import SignatureCheck

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request answered with a 4xx before Bolt sees it; `reason` is short and safe to log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class ParsedBoltRequest(BoltRequest):
    """A Bolt request whose body `bot.slack_body` parsed; `raw_body` stays the text Slack signed.

    Bolt accepts a parsed body only outside HTTP mode, so the request is built as one and then
    marked HTTP, which it is."""

    def __init__(
        self, *, raw_body: str, body: dict[str, Any], headers: dict[str, Any], query: Any, context: Any = None
    ) -> None:
        super().__init__(body=body, headers=headers, query=query, context=context, mode="socket_mode")
        self.raw_body = raw_body
        self.mode = "http"

    def to_copyable(self) -> ParsedBoltRequest:
        return ParsedBoltRequest(
            raw_body=self.raw_body,
            body=self.body,
            headers=self.headers,
            query=self.query,
            context=self.context.to_copyable(),
        )


class SlackEndpoint:
    """The WSGI application for Slack's POSTs: one Bolt app, signed by `signing_secret`."""

    def __init__(self, app: App, signing_secret: str, max_body: int) -> None:
        self.app = app
        self.signature = SignatureCheck(signing_secret)
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            response = self.app.dispatch(self.request(environ))
        except Refused as refused:
            log.info(
                "refused a request to %s from %s: %s %s",
                environ.get("PATH_INFO", ""),
                str(environ.get("REMOTE_ADDR", "?"))[:45],
                refused.status,
                refused.reason,
            )
            headers: dict[str, str | Sequence[str]] = {"Allow": ["POST"]} if refused.status == 405 else {}
            response = BoltResponse(status=refused.status, body={"error": refused.reason}, headers=headers)
        wsgi_response = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
        start_response(wsgi_response.status, wsgi_response.get_headers())
        return wsgi_response.get_body()

    def request(self, environ: dict[str, Any]) -> BoltRequest:
        """The Bolt request for `environ`, or `Refused`."""
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refused(405, "method not allowed")
        raw = read_body(environ, self.max_body)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "body is not UTF-8") from None
        headers = _headers(environ)
        refusal = self.signature.refusal(
            text, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        )
        if refusal:
            raise Refused(401, refusal)
        try:
            body = parse_body(text, headers.get("content-type", ""))
        except BadBody as bad:
            raise Refused(400, str(bad)) from None
        try:
            return ParsedBoltRequest(
                raw_body=text, body=body, headers=headers, query=str(environ.get("QUERY_STRING", ""))
            )
        except (TypeError, AttributeError, KeyError, IndexError, ValueError):
            # Bolt reads ids out of the body to build the request's context; `bot.slack_body`
            # checks the fields it knows Bolt reads, and this catches a shape it does not know.
            raise Refused(400, "fields are not what Slack sends") from None


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request's body, read only if it is at most `limit` bytes (else `Refused(413)`)."""
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream = environ["wsgi.input"]
    if not length:
        # PEP 3333: without a length, the body is empty unless the server marks the stream as ending.
        if not environ.get("wsgi.input_terminated"):
            return b""
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise Refused(413, f"body over {limit} bytes")
        return bytes(body)
    if not (length.isascii() and length.isdigit()):
        raise Refused(400, "malformed Content-Length")
    if int(length) > limit:
        raise Refused(413, f"body over {limit} bytes")
    return bytes(stream.read(int(length)))


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name (`x-slack-signature`), as Bolt names them."""
    headers = {}
    for key, value in environ.items():
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers[key.lower().replace("_", "-")] = str(value)
        elif key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = str(value)
    return headers
