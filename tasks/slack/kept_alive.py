"""A slack_sdk WebClient that keeps its HTTP connection open between calls.

slack_sdk's WebClient opens a new connection (and, to slack.com, a new TLS session) for every
call; a job makes its calls in a row, so reconnecting would be most of a worker's time on the
wire and, with a TLS handshake each time, a good part of its CPU. This client overrides the one
method where slack_sdk opens the connection and keeps its contract, so slack_sdk's retry
handlers, errors and responses are unchanged.
"""

from __future__ import annotations

import io
import os
import select
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

# A connection idle this long is not reused: servers, load balancers and NATs drop idle
# connections after a while, sometimes without a word, and a call must not be the one to find out.
IDLE_LIMIT = 30.0


@dataclass
class _Kept:
    conn: HTTPConnection
    used_at: float


class _Connections(threading.local):
    """This thread's open connections, by (scheme, host, port), and the process they belong to:
    a forked child must not talk over its parent's sockets."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: dict[tuple[str, str, int], _Kept] = {}

    def mine(self) -> dict[tuple[str, str, int], _Kept]:
        if self.pid != os.getpid():
            self.pid, self.open = os.getpid(), {}
        return self.open


def _reusable(kept: _Kept) -> bool:
    """Not idle too long, and not closed by the server: an idle socket with something to read
    has had its end of stream (or junk) from the other side."""
    sock = kept.conn.sock
    if sock is None or time.monotonic() - kept.used_at > IDLE_LIMIT:
        return False
    poller = select.poll()  # not select(): it cannot watch a descriptor above 1023
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


class KeptAliveWebClient(WebClient):
    """slack_sdk's WebClient, sending over one kept-alive connection per thread and host."""

    def __init__(self, *args: Any, keep_alive: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep_alive = keep_alive
        self._connections = _Connections()

    def _connection(self, scheme: str, host: str, port: int) -> _Kept:
        """This thread's connection to the host: the kept one if it is still good, else a new one."""
        pool = self._connections.mine()
        kept = pool.get((scheme, host, port))
        if kept is not None:
            try:
                if _reusable(kept):
                    return kept
            except (OSError, ValueError):
                pass
            kept.conn.close()
        if scheme == "https":  # without a context of the client's, http.client makes urllib's default
            conn: HTTPConnection = HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl)
        else:
            conn = HTTPConnection(host, port, timeout=self.timeout)
        kept = pool[(scheme, host, port)] = _Kept(conn, time.monotonic())
        return kept

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """Send `req` over this thread's open connection to the API host; the same contract as
        slack_sdk's urllib version (a dict of status, headers and body; HTTPError for a non-2xx
        answer; URLError when sending fails), so its retry handlers work unchanged: a connection
        that fails is closed, and the handlers decide whether to try again. A proxy, or a client
        made with `keep_alive=False`, takes slack_sdk's own path (a new connection per call)."""
        parts = urlsplit(url)
        if (
            not self.keep_alive
            or self.proxy is not None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
        ):
            return super()._perform_urllib_http_request_internal(url, req)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        kept = self._connection(parts.scheme, parts.hostname, port)
        try:
            try:
                kept.conn.request("POST", req.selector, body=req.data, headers=dict(req.header_items()))
            except OSError as err:
                raise URLError(err) from err
            resp = kept.conn.getresponse()
            body = resp.read()
        except BaseException:
            kept.conn.close()  # the next call opens a fresh one
            raise
        kept.used_at = time.monotonic()
        if not 200 <= resp.status < 300:
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(body))
        if resp.headers.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.headers, "body": body}
        charset = resp.headers.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": resp.headers, "body": body.decode(charset)}
