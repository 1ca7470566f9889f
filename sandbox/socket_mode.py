"""The Socket Mode side of the fake Slack: the WebSocket a Socket Mode client holds open.

A client asks ``apps.connections.open`` for a URL (``open_url`` mints its single-use ticket),
connects to ``GET /socket``, gets Slack's ``hello``, and then receives envelopes (``send``)
which it acks by ``envelope_id``. As Slack does, an envelope goes to one live connection at
random, and ``disconnect`` asks every client to reconnect before its socket is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.loop import LoopThread
from sandbox.state import APP_ID, Workspace

logger = logging.getLogger(__name__)

# Seconds between sending ``disconnect`` and closing the socket, as Slack leaves the client
# time to open its next connection first.
DISCONNECT_GRACE_SECONDS = 1.0

Ack = Callable[[dict[str, Any]], None]


@dataclass
class SocketConnection:
    """One Socket Mode WebSocket connection (for tests checking reconnects)."""

    id: int
    opened_at: float
    closed_at: float | None = None
    draining: bool = False  # sent a ``disconnect``; Slack no longer routes envelopes to it

    @property
    def open(self) -> bool:
        return self.closed_at is None


class SocketMode:
    """The connections, their tickets and the acks still awaited.

    ``base_url`` is the server's ``http(s)://`` address, known once it is bound; the socket URL
    is the same address as ``ws(s)://``.
    """

    def __init__(
        self,
        workspace: Workspace,
        loop: LoopThread,
        base_url: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.loop = loop
        self.base_url = base_url
        self.clock = clock
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._sockets: dict[int, tuple[web.WebSocketResponse, SocketConnection]] = {}
        self._history: list[SocketConnection] = []
        self._ids = 0
        # envelope_id -> (future resolved with the ack frame, hook run on the loop as it arrives)
        self._pending_acks: dict[str, tuple[asyncio.Future[dict[str, Any]], Ack]] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/socket", self._handle)

    def open_url(self) -> str:
        """A new single-use WebSocket URL, as ``apps.connections.open`` answers."""
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets.add(ticket)
        return "ws" + self.base_url().removeprefix("http") + f"socket?ticket={ticket}"

    # --------------------------------------------------------------- reading

    def connected(self, timeout: float = 10.0) -> bool:
        """Wait until a client holds a live (non-draining) connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._live():
                return True
            time.sleep(0.02)
        return bool(self._live())

    def connections(self) -> list[SocketConnection]:
        """Every connection ever opened (open or closed), oldest first."""
        with self._lock:
            return [SocketConnection(c.id, c.opened_at, c.closed_at, c.draining) for c in self._history]

    def _live(self) -> list[web.WebSocketResponse]:
        with self._lock:
            return [ws for ws, c in self._sockets.values() if not c.draining and not ws.closed]

    # ------------------------------------------------------------ commanding

    def send(self, envelope: dict[str, Any], timeout: float, on_ack: Ack) -> dict[str, Any] | None:
        """Send ``envelope`` to one live connection and wait for its ack frame.

        ``on_ack`` runs on the server loop the moment the ack arrives, so the ack's message is
        stored before a ``respond()`` that quickly follows it. Returns ``None`` with no live
        connection, ``{}`` when no ack came within ``timeout``.
        """
        return self.loop.call(self._send(envelope, timeout, on_ack), timeout=timeout + 5)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` frame to every connection, then close them.

        The SDK answers by opening a new connection (``slack_sdk/socket_mode/client.py``); the
        old one is closed after ``DISCONNECT_GRACE_SECONDS``, as Slack does.
        """
        self.loop.call(self._disconnect(reason), timeout=5)

    async def close_all(self) -> None:
        for ws, _ in list(self._sockets.values()):
            await ws.close()

    # ------------------------------------------------------------- the loop

    async def _send(self, envelope: dict[str, Any], timeout: float, on_ack: Ack) -> dict[str, Any] | None:
        """To one live connection at random, as Slack does (bolt-python#579)."""
        live = self._live()
        if not live:
            return None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope["envelope_id"]] = (fut, on_ack)
        try:
            await random.choice(live).send_json(envelope)
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return {}
        finally:
            self._pending_acks.pop(envelope["envelope_id"], None)

    async def _disconnect(self, reason: str) -> None:
        with self._lock:
            targets = list(self._sockets.values())
            for _, conn in targets:
                conn.draining = True
        for ws, _ in targets:
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}})

        async def close_later() -> None:
            await asyncio.sleep(DISCONNECT_GRACE_SECONDS)
            for ws, _ in targets:
                await ws.close()

        asyncio.ensure_future(close_later())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)  # each URL from apps.connections.open is single-use
        if not valid:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._ids += 1
            conn = SocketConnection(self._ids, self.clock())
            self._sockets[conn.id] = (ws, conn)
            self._history.append(conn)
            count = len(self._sockets)
        self.workspace.emit({"type": "socket_connected", "connection": conn.id})
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(msg.data)
        finally:
            with self._lock:
                self._sockets.pop(conn.id, None)
                conn.closed_at = self.clock()
            self.workspace.emit({"type": "socket_closed", "connection": conn.id})
        return ws

    def _receive(self, data: str) -> None:
        """A frame from the client: an ack resolves the envelope that awaits it."""
        try:
            frame = json.loads(data)
        except ValueError:
            return
        pending = self._pending_acks.pop(str(frame.get("envelope_id")), None)
        if pending is not None and not pending[0].done():
            try:
                pending[1](frame)  # record the ack *now*, before anything the bot sends next
            except Exception:
                logger.exception("recording a socket mode ack failed")
            pending[0].set_result(frame)
