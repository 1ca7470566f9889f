"""A fake Slack, at Slack's HTTP boundary, for tests and the local sandbox.

So the bot can be exercised without a Slack workspace, this server plays
Slack: the real ``slack_sdk`` / ``slack_bolt`` clients talk to it over real
HTTP and WebSockets, exactly as they would talk to Slack, and it follows
Slack's documented behaviour (the docs and slack_sdk sources are named where
a fact is used).  Nothing is mocked inside the bot, so what passes here
exercises the same code paths as production.

It plays both of Slack's roles:

* **Slack calling the bot** -- ``send_command`` / ``send_interaction`` build
  the signed form POST Slack sends in HTTP mode, or the Socket Mode envelope,
  and time the ack against Slack's 3 s budget.
* **The bot calling Slack** -- ``POST /api/<method>`` (Web API),
  ``POST /response/<id>`` (response_url), ``POST /upload/v1/<token>``
  (files_upload_v2 step 2) and ``GET /socket`` (Socket Mode WebSocket).

The aiohttp server runs in a background thread with its own event loop, so
ordinary synchronous test code (and the bot's own threads) can use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web

from sandbox.page import add_page_routes
from sandbox.state import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    DEFAULT_TZ,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    ApiError,
    Ephemeral,
    Fault,
    Message,
    RecordedRequest,
    StoredFile,
    TokenBucket,
    Workspace,
    mentions,
)
from sandbox.tls import Certificate

logger = logging.getLogger(__name__)

T = TypeVar("T")

ACK_TIMEOUT_SECONDS = 3.0  # Slack waits 3000 ms for the ack (api.slack.com/interactivity/slash-commands)
JSON_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"}


@dataclass
class CommandResponse:
    """What Slack got back when it delivered a command or interaction.

    ``status`` is the HTTP status (HTTP mode) or 200 once the Socket Mode ack
    arrived; 0 when nothing came back.  ``body`` is the parsed JSON ack, the
    plain-text ack, or ``None`` for an empty ack.  ``error`` is what Slack
    would show the user when delivery failed (``operation_timeout``,
    ``dispatch_failed``, ``http_client_error``, ``http_service_error``).
    """

    status: int
    body: dict[str, Any] | str | None
    elapsed: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


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


class FakeSlack:
    """A Slack workspace + Web API + Socket Mode endpoint on 127.0.0.1.

    Typical use::

        slack = FakeSlack(signing_secret="s3cret").start()
        client = WebClient("xoxb-test", base_url=slack.api_url)
        ...
        slack.stop()
    """

    def __init__(
        self,
        signing_secret: str = "s3cret",
        port: int = 0,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        bot_url: str | None = None,
        clock: Callable[[], float] = time.time,
        tls: Certificate | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        # With a certificate, the Web API, response_url, uploads and Socket Mode are served over
        # TLS (https://, wss://), as Slack serves them; see sandbox.tls. slack_sdk's builtin
        # Socket Mode client speaks TLS only to port 443, so over TLS it cannot reach the fake.
        self.tls = tls
        self.port = port
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_url = bot_url
        self.clock = clock
        self.workspace = Workspace(clock)
        self.socket_disconnect_grace = 1.0  # seconds before a "disconnect"ed socket is closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tickets: set[str] = set()
        self._sockets: dict[int, tuple[web.WebSocketResponse, SocketConnection]] = {}
        self._socket_history: list[SocketConnection] = []
        self._socket_ids = 0
        # envelope_id -> (future resolved with the ack frame, hook run on the loop as it arrives)
        self._pending_acks: dict[
            str, tuple[asyncio.Future[dict[str, Any]], Callable[[dict[str, Any]], None]]
        ] = {}
        self._state_lock = threading.Lock()

    # ------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """Pass as ``WebClient(base_url=...)``: slack_sdk joins each method name onto it."""
        return self.base_url + "api/"

    def start(self) -> FakeSlack:
        """Bind 127.0.0.1 (free port if 0) and serve from a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(sock, ready), name="fake-slack", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake slack did not start")
        return self

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._handle_api)
        # slack_sdk GETs a few methods, e.g. usergroups.users.list
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_post("/response/{url_id}", self._handle_response_url)
        app.router.add_post("/upload/v1/{token}", self._handle_upload)
        app.router.add_get("/socket", self._handle_socket)
        add_page_routes(app, self)  # the sandbox page: always on, it costs nothing when unused
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, sock, ssl_context=self.tls.server_context() if self.tls else None)
        self._loop.run_until_complete(site.start())
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def stop(self) -> None:
        """Close sockets, stop the server and join its thread."""
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            for ws, _ in list(self._sockets.values()):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            self._call(shutdown(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the server loop from a synchronous caller."""
        assert self._loop is not None, "FakeSlack.start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --------------------------------------------------------- configuration

    def set_channel(
        self, channel: str, *, member: bool = True, archived: bool = False, name: str | None = None
    ) -> None:
        """Configure a channel; unknown channels are auto-created as member channels."""
        self.workspace.set_channel(channel, member=member, archived=archived, name=name)

    def set_user(self, user: str, *, name: str | None = None, tz: str = DEFAULT_TZ) -> None:
        """Configure a user (``users.info`` name and time zone)."""
        self.workspace.set_user(user, name=name, tz=tz)

    def set_usergroup(self, usergroup: str, users: list[str]) -> None:
        """Configure a user group (``S…``) and its members, for ``usergroups.users.list``."""
        self.workspace.set_usergroup(usergroup, users)

    def fail(
        self,
        method: str,
        error: str | None = "internal_error",
        times: int = 1,
        status: int = 200,
        retry_after: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any) fail.

        ``status=200`` answers ``{"ok": false, "error": error}`` like Slack's
        API errors; 5xx simulates an outage (``error=None`` sends a non-JSON
        body); 429 adds ``Retry-After: retry_after``.  Methods include Web API
        names plus ``response_url`` and ``upload``.
        """
        self.workspace.add_fault(Fault(method, error, status, times, retry_after))

    def rate_limit_post_message(self, per_second: float = 1.0, burst: int = 1) -> None:
        """Enable chat.postMessage's ~1 msg/s per-channel limit (HTTP 429 + ``Retry-After``)."""
        self.workspace.post_message_limiter = TokenBucket(per_second, burst, self.clock)

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every workspace change; returns an unsubscribe function.

        Callbacks run on the server thread and must be quick (the sandbox page
        pushes them to a queue for server-sent events).
        """
        return self.workspace.subscribe(callback)

    def reset(self) -> None:
        """Forget messages, files, requests, faults, rate limits, channel/user config.

        The server, its port, ``bot_url`` and Socket Mode connections stay.
        """
        self.workspace.reset()

    # --------------------------------------------------------------- reading

    def messages(self, channel: str) -> list[Message]:
        return self.workspace.messages(channel)

    def thread(self, channel: str, ts: str) -> list[Message]:
        return self.workspace.thread(channel, ts)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        return self.workspace.ephemerals(user=user, channel=channel)

    def files(self) -> list[StoredFile]:
        return self.workspace.files()

    def scheduled_messages(self) -> list[dict[str, Any]]:
        return self.workspace.scheduled()

    def requests(self, method: str | None = None) -> list[RecordedRequest]:
        return self.workspace.requests(method)

    mentions = staticmethod(mentions)

    def dump(self) -> str:
        return self.workspace.dump()

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, message: str = ""
    ) -> T:
        """Poll ``predicate`` until truthy and return its value.

        On timeout raise ``AssertionError`` with the whole workspace dumped, so
        a failing end-to-end test says what Slack *did* see.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {message or predicate}\n{self.dump()}"
                )
            time.sleep(interval)

    # ------------------------------------------------------------ Web API

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = dict(request.headers)
        status, body, extra_headers = self._dispatch(method, params, headers)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.workspace.record(method, params, headers, status, body, f"{peer[0]}:{peer[1]}" if peer else "")
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=extra_headers)
        return web.json_response(body, status=status, headers=extra_headers)

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """Authenticate, apply faults / rate limits, then run the method."""
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else params.pop("token", None)
        params.pop("token", None)
        handler = self._methods().get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != expected:
            wrong_kind = token in (self.app_token, self.bot_token)
            return 200, {"ok": False, "error": "not_allowed_token_type" if wrong_kind else "invalid_auth"}, {}
        fault = self.workspace.take_fault(method)
        if fault is not None:
            return _fault_response(fault)
        limiter = self.workspace.post_message_limiter
        if method == "chat.postMessage" and limiter is not None:
            retry_after = limiter.take(str(params.get("channel")))
            if retry_after:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        try:
            return 200, {"ok": True, **handler(params)}, {}
        except ApiError as e:
            return 200, e.body(), {}

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.scheduleMessage": self._chat_schedule_message,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "apps.connections.open": self._apps_connections_open,
        }

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self.workspace.post_message(
            p.get("channel"),
            p.get("text"),
            p.get("blocks"),
            p.get("thread_ts"),
            _truthy(p.get("reply_broadcast")),
        )
        return {"channel": msg.channel, "ts": msg.ts, "message": msg.to_api()}

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self.workspace.update_message(p.get("channel"), p.get("ts"), p.get("text"), p.get("blocks"))
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": msg.to_api()}

    def _chat_post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        eph = self.workspace.post_ephemeral(
            p.get("channel"), p.get("user"), p.get("text"), p.get("blocks"), p.get("thread_ts")
        )
        return {"message_ts": eph.ts}

    def _chat_schedule_message(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self.workspace.schedule_message(
            p.get("channel"), p.get("text"), p.get("post_at"), p.get("blocks")
        )
        return {
            "channel": item["channel"],
            "scheduled_message_id": item["scheduled_message_id"],
            "post_at": item["post_at"],
        }

    def _files_get_upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        f, token = self.workspace.start_upload(p.get("filename"), p.get("length"))
        return {"upload_url": f"{self.base_url}upload/v1/{token}", "file_id": f.id}

    def _files_complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel_id") or (str(p.get("channels") or "").split(",")[0] or None)
        done = self.workspace.complete_upload(
            p.get("files"), channel, p.get("thread_ts"), p.get("initial_comment")
        )
        return {"files": [f.to_api(self.base_url) for f in done]}

    def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("user"):
            raise ApiError("user_not_found")
        u = self.workspace.user(str(p["user"]))
        offset = _tz_offset(u.tz)
        return {
            "user": {
                "id": u.id,
                "team_id": TEAM_ID,
                "name": u.name,
                "real_name": u.name,
                "tz": u.tz,
                "tz_offset": offset,
                "is_bot": False,
                "deleted": False,
                "profile": {"display_name": u.name, "real_name": u.name},
            }
        }

    def _usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"users": self.workspace.usergroup_members(str(p.get("usergroup") or ""))}

    def _apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(16)
        with self._state_lock:
            self._tickets.add(ticket)
        return {"url": f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/socket?ticket={ticket}"}

    # -------------------------------------------------- response_url & upload

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        url_id = request.match_info["url_id"]
        headers = dict(request.headers)
        try:
            params = json.loads(await request.text() or "{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            self.workspace.record("response_url", {}, headers, 400, "invalid_payload")
            return web.Response(status=400, text="invalid_payload")
        fault = self.workspace.take_fault("response_url")
        if fault is not None:
            status, body, extra = _fault_response(fault)
        else:
            status, body, extra = self._apply_response_url(url_id, params)
        self.workspace.record("response_url", params, headers, status, body)
        return web.json_response(body, status=status, headers=extra)

    def _apply_response_url(self, url_id: str, p: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """Post/replace/delete what a response_url addresses (api.slack.com/interactivity/handling#message_responses)."""
        try:
            ru = self.workspace.use_response_url(url_id)
            text, blocks = p.get("text") or "", p.get("blocks")
            replace, delete = _truthy(p.get("replace_original")), _truthy(p.get("delete_original"))
            if ru.message_ts and (replace or delete):  # interaction on a channel message
                if delete:
                    self.workspace.delete_message(ru.channel, ru.message_ts)
                else:
                    self.workspace.update_message(ru.channel, ru.message_ts, text, blocks)
            elif (replace or delete) and self.workspace.replace_ephemeral(ru.id, text, blocks, delete):
                pass
            elif delete:
                pass  # nothing to delete: Slack answers ok
            elif p.get("response_type") == "in_channel":
                self.workspace.post_message(
                    ru.channel, text, blocks, p.get("thread_ts"), check_membership=False
                )
            else:
                self.workspace.post_ephemeral(
                    ru.channel,
                    ru.user,
                    text,
                    blocks,
                    p.get("thread_ts"),
                    source="response_url",
                    response_url_id=ru.id,
                    check_membership=False,
                )
            return 200, {"ok": True}, {}
        except ApiError as e:
            status = 404 if e.error in ("used_url", "expired_url", "invalid_url") else 200
            return status, e.body(), {}

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        fault = self.workspace.take_fault("upload")
        if fault is not None:
            status, body, extra = _fault_response(fault)
            self.workspace.record("upload", {"length": len(data)}, dict(request.headers), status, body)
            return web.Response(
                status=status, text=body if isinstance(body, str) else json.dumps(body), headers=extra
            )
        stored = self.workspace.receive_upload(request.match_info["token"], data)
        status, text = (200, f"OK - {len(data)}") if stored else (404, "Not Found")
        self.workspace.record(
            "upload",
            {"length": len(data), "file_id": stored.id if stored else None},
            dict(request.headers),
            status,
            text,
        )
        return web.Response(status=status, text=text)

    # ----------------------------------------------------------- Socket Mode

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._state_lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)  # each URL from apps.connections.open is single-use
        if not valid:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._state_lock:
            self._socket_ids += 1
            conn = SocketConnection(self._socket_ids, self.clock())
            self._sockets[conn.id] = (ws, conn)
            self._socket_history.append(conn)
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
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    continue
                pending = self._pending_acks.pop(str(frame.get("envelope_id")), None)
                if pending is not None and not pending[0].done():
                    try:
                        pending[1](frame)  # record the ack *now*, before anything the bot sends next
                    except Exception:
                        logger.exception("recording a socket mode ack failed")
                    pending[0].set_result(frame)
        finally:
            with self._state_lock:
                self._sockets.pop(conn.id, None)
                conn.closed_at = self.clock()
            self.workspace.emit({"type": "socket_closed", "connection": conn.id})
        return ws

    def socket_connected(self, timeout: float = 10.0) -> bool:
        """Wait until a Socket Mode client holds a live (non-draining) connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._live_sockets():
                return True
            time.sleep(0.02)
        return bool(self._live_sockets())

    def socket_connections(self) -> list[SocketConnection]:
        """Every connection ever opened (open or closed), oldest first."""
        with self._state_lock:
            return [
                SocketConnection(c.id, c.opened_at, c.closed_at, c.draining) for c in self._socket_history
            ]

    def _live_sockets(self) -> list[web.WebSocketResponse]:
        with self._state_lock:
            return [ws for ws, c in self._sockets.values() if not c.draining and not ws.closed]

    def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` frame to every connection, then close them.

        The SDK answers by opening a new connection (``slack_sdk/socket_mode/client.py``); the old one
        is closed after ``socket_disconnect_grace`` seconds, as Slack does.
        """

        async def go() -> None:
            with self._state_lock:
                targets = list(self._sockets.values())
                for _, conn in targets:
                    conn.draining = True
            for ws, _ in targets:
                await ws.send_json(
                    {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
                )

            async def close_later() -> None:
                await asyncio.sleep(self.socket_disconnect_grace)
                for ws, _ in targets:
                    await ws.close()

            asyncio.ensure_future(close_later())

        self._call(go(), timeout=5)

    async def _send_envelope(
        self, envelope: dict[str, Any], timeout: float, on_ack: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Send to one live connection at random, as Slack does (bolt-python#579); await its ack frame.

        ``on_ack`` runs on the server loop the moment the ack arrives, so the
        ack's message is stored before a ``respond()`` that quickly follows it.
        Returns ``None`` with no live connection, ``{}`` on timeout.
        """
        live = self._live_sockets()
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

    # ----------------------------------------------------- Slack -> the bot

    def send_command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str = "C0TEST",
        user: str = "U0ALICE",
        mode: str = "http",
        timestamp: int | str | None = None,
        secret: str | None = None,
        headers: dict[str, str | None] | None = None,
        channel_name: str | None = None,
        user_name: str | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """Deliver a slash command as Slack does and return the ack.

        ``mode="http"`` POSTs the signed form to ``bot_url``; ``mode="socket"``
        sends a ``slash_commands`` envelope to a connected client.  The
        immediate message in the ack is recorded as the user would see it (an
        ephemeral, or a channel message plus the typed command for
        ``response_type: in_channel``); a failed delivery records the error
        Slack shows.  ``timestamp``/``secret``/``headers`` override the
        signature inputs to test stale, wrong or missing signatures (a header
        value of ``None`` removes that header).
        """
        ch = self.workspace.channel(channel)
        u = self.workspace.user(user)
        ru = self.workspace.mint_response_url(ch.id, u.id)
        payload = {
            "token": "fake-verification-token",
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": ch.id,
            "channel_name": channel_name or ch.name,
            "user_id": u.id,
            "user_name": user_name or u.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{self.base_url}response/{ru.id}",
            "trigger_id": _trigger_id(),
        }

        def record(resp: CommandResponse) -> None:
            self._record_ack(resp, command, text, ch.id, u.id, ru.id)

        return self._deliver(
            payload, "slash_commands", True, mode, timestamp, secret, headers, timeout, record
        )

    def send_interaction(
        self,
        payload: dict[str, Any],
        *,
        mode: str = "http",
        timestamp: int | str | None = None,
        secret: str | None = None,
        headers: dict[str, str | None] | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """Deliver an interaction (default ``block_actions``) as Slack does.

        Missing envelope fields (team, api_app_id, trigger_id, response_url,
        ``user``/``channel`` defaults) are filled in; the response_url targets
        ``payload["message"]["ts"]`` when present, so ``replace_original``
        edits that message.  HTTP mode sends ``payload=<json>`` signed like a
        command; Socket Mode sends an ``interactive`` envelope.
        """
        p = json.loads(json.dumps(payload))
        p.setdefault("type", "block_actions")
        p.setdefault("user", {"id": "U0ALICE"})
        p.setdefault("channel", {"id": "C0TEST"})
        u = self.workspace.user(p["user"]["id"])
        p["user"].setdefault("username", u.name)
        p["user"].setdefault("team_id", TEAM_ID)
        ch = self.workspace.channel(p["channel"]["id"])
        p["channel"].setdefault("name", ch.name)
        p.setdefault("team", {"id": TEAM_ID, "domain": TEAM_DOMAIN})
        p.setdefault("api_app_id", APP_ID)
        p.setdefault("token", "fake-verification-token")
        p.setdefault("trigger_id", _trigger_id())
        p.setdefault("is_enterprise_install", False)
        message_ts = (p.get("message") or {}).get("ts") or (p.get("container") or {}).get("message_ts")
        if "response_url" not in p:
            ru = self.workspace.mint_response_url(ch.id, u.id, message_ts=message_ts)
            p["response_url"] = f"{self.base_url}response/{ru.id}"
        form = {"payload": json.dumps(p)}
        return self._deliver(
            form, "interactive", False, mode, timestamp, secret, headers, timeout, socket_payload=p
        )

    def _deliver(
        self,
        form: dict[str, str],
        envelope_type: str,
        accepts_response_payload: bool,
        mode: str,
        timestamp: int | str | None,
        secret: str | None,
        headers: dict[str, str | None] | None,
        timeout: float,
        record: Callable[[CommandResponse], None] | None = None,
        socket_payload: dict[str, Any] | None = None,
    ) -> CommandResponse:
        """Send one request Slack -> bot and time the ack; ``record`` shows the result to the user."""
        record = record or (lambda resp: None)

        def done(resp: CommandResponse) -> CommandResponse:
            if mode == "http" or resp.error:  # socket acks were already recorded as they arrived
                record(resp)
            return resp

        started = time.monotonic()

        def socket_response(ack: dict[str, Any]) -> CommandResponse:
            body = ack.get("payload")
            return CommandResponse(200, body if body not in ({}, "") else None, time.monotonic() - started)

        if mode == "socket":
            envelope = {
                "envelope_id": secrets.token_hex(16),
                "type": envelope_type,
                "payload": socket_payload if socket_payload is not None else form,
                "accepts_response_payload": accepts_response_payload,
            }
            ack = self._call(
                self._send_envelope(envelope, timeout, lambda frame: record(socket_response(frame))),
                timeout=timeout + 5,
            )
            elapsed = time.monotonic() - started
            if ack is None:
                return done(CommandResponse(0, None, elapsed, "dispatch_failed"))
            if not ack:
                return done(CommandResponse(0, None, elapsed, "operation_timeout"))
            return done(socket_response(ack))
        if mode != "http":
            raise ValueError(f"mode must be 'http' or 'socket', not {mode!r}")
        if not self.bot_url:
            raise RuntimeError("set FakeSlack.bot_url before sending HTTP-mode requests")
        raw = urllib.parse.urlencode(form).encode()
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        all_headers: dict[str, str | None] = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret if secret is not None else self.signing_secret, ts, raw),
        }
        all_headers.update(headers or {})
        req = urllib.request.Request(
            self.bot_url,
            data=raw,
            method="POST",
            headers={k: v for k, v in all_headers.items() if v is not None},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via HTTP(S)_PROXY
        try:
            with opener.open(req, timeout=timeout) as r:
                status, ctype, data = r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            data = e.read()
            return done(
                CommandResponse(
                    e.code,
                    data.decode(errors="replace") or None,
                    time.monotonic() - started,
                    "http_client_error" if e.code < 500 else "http_service_error",
                )
            )
        except TimeoutError:
            return done(CommandResponse(0, None, time.monotonic() - started, "operation_timeout"))
        except urllib.error.URLError as e:
            is_timeout = isinstance(e.reason, (TimeoutError, socket.timeout))
            return done(
                CommandResponse(
                    0,
                    None,
                    time.monotonic() - started,
                    "operation_timeout" if is_timeout else "dispatch_failed",
                )
            )
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            return done(CommandResponse(status, None, elapsed, "operation_timeout"))
        return done(CommandResponse(status, _parse_ack_body(ctype, data), elapsed))

    def _record_ack(
        self, resp: CommandResponse, command: str, text: str, channel: str, user: str, url_id: str
    ) -> None:
        """Show the ack's immediate message (or the delivery error) like Slack would."""
        if resp.error:
            self.workspace.post_ephemeral(
                channel,
                user,
                f'{command} failed with the error "{resp.error}"',
                source="slack",
                check_membership=False,
            )
            return
        body = resp.body
        if not body:
            return
        if isinstance(body, str):
            body = {"text": body}
        if not body.get("text") and not body.get("blocks"):
            return
        try:
            if body.get("response_type") == "in_channel":
                typed = f"{command} {text}".strip()
                self.workspace.post_message(channel, typed, user=user, check_membership=False)
                self.workspace.post_message(
                    channel, body.get("text"), body.get("blocks"), check_membership=False
                )
            else:
                self.workspace.post_ephemeral(
                    channel,
                    user,
                    body.get("text"),
                    body.get("blocks"),
                    source="ack",
                    response_url_id=url_id,
                    check_membership=False,
                )
        except ApiError as e:  # e.g. invalid_blocks in the ack: Slack shows an error instead
            self.workspace.post_ephemeral(
                channel,
                user,
                f'{command} failed with the error "{e.error}"',
                source="slack",
                check_membership=False,
            )


# ------------------------------------------------------------------ helpers


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """Slack's v0 signature: ``v0=`` + HMAC-SHA256(secret, ``v0:{ts}:{body}``)
    (api.slack.com/authentication/verifying-requests-from-slack)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _trigger_id() -> str:
    return (
        f"{random.randint(10**12, 10**13 - 1)}.{random.randint(10**11, 10**12 - 1)}.{secrets.token_hex(16)}"
    )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _tz_offset(tz: str) -> int:
    from datetime import datetime

    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _parse_ack_body(content_type: str, data: bytes) -> dict[str, Any] | str | None:
    if not data:
        return None
    text = data.decode(errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict):
                return parsed
        except ValueError:
            pass
    return text


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string, JSON and form bodies (slack_sdk uses all three)."""
    params: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw:
        return params
    ctype = request.headers.get("Content-Type", "")
    if "json" in ctype:
        try:
            body = json.loads(raw)
            if isinstance(body, dict):
                params.update(body)
        except ValueError:
            pass
    elif "multipart" in ctype:
        for key, value in (await request.post()).items():
            params[key] = value.file.read() if isinstance(value, web.FileField) else value
    else:
        params.update(dict(urllib.parse.parse_qsl(raw.decode(errors="replace"), keep_blank_values=True)))
    return params


def _fault_response(fault: Fault) -> tuple[int, Any, dict[str, str]]:
    headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
    if fault.error is None:
        return fault.status, "Internal Server Error" if fault.status >= 500 else "error", headers
    return fault.status, {"ok": False, "error": fault.error}, headers
