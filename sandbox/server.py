"""``FakeSlack``: the fake Slack's one aiohttp server, and what tests hold to drive and read it.

So the bot can be exercised without a Slack workspace, this server plays Slack: the real
``slack_sdk`` / ``slack_bolt`` clients talk to it over real HTTP and WebSockets, exactly as they
would talk to Slack, and it follows Slack's documented behaviour (the docs and slack_sdk sources
are named where a fact is used). Nothing is mocked inside the bot, so what passes here exercises
the same code paths as production.

One server on 127.0.0.1, over TLS when given a certificate, composes the parts: the Web API
(``sandbox.web_api``), Socket Mode (``sandbox.socket_mode``), the page (``sandbox.page``), and
the deliveries to the bot (``sandbox.delivery``), all over one ``Workspace``
(``sandbox.state``). It runs on a loop of its own (``sandbox.loop``), so ordinary synchronous
test code, and the bot's own threads, can use it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from sandbox.delivery import ACK_TIMEOUT_SECONDS, CommandResponse, Delivery
from sandbox.loop import LoopThread
from sandbox.page import add_page_routes
from sandbox.socket_mode import SocketConnection, SocketMode
from sandbox.state import (
    DEFAULT_TZ,
    Ephemeral,
    Fault,
    Message,
    RecordedRequest,
    StoredFile,
    TokenBucket,
    Workspace,
)
from sandbox.tls import Certificate
from sandbox.view_delivery import ViewDelivery
from sandbox.views import Views
from sandbox.web_api import WebApi

T = TypeVar("T")

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # file uploads arrive whole


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
        # With a certificate, the Web API, response_url, uploads and Socket Mode are served over
        # TLS (https://, wss://), as Slack serves them; see sandbox.tls. slack_sdk's builtin
        # Socket Mode client speaks TLS only to port 443, so over TLS it cannot reach the fake.
        self.tls = tls
        self.port = port
        self.clock = clock
        self.workspace = Workspace(clock)
        self._loop = LoopThread("fake-slack")
        self._runner: web.AppRunner | None = None

        def base_url() -> str:  # the port is known once bound
            return self.base_url

        self._sockets = SocketMode(self.workspace, self._loop, base_url, clock)
        self.views = Views(self.workspace)  # modals, Home tabs, trigger ids
        self._web_api = WebApi(self.workspace, bot_token, app_token, base_url, self._sockets, self.views)
        self._delivery = Delivery(
            self.workspace, self.views, self._sockets, base_url, signing_secret, bot_url, clock
        )
        self._views = ViewDelivery(self._delivery)

    @property
    def bot_url(self) -> str | None:
        """Where HTTP-mode commands and interactions are POSTed: the bot's request URL."""
        return self._delivery.bot_url

    @bot_url.setter
    def bot_url(self, url: str | None) -> None:
        self._delivery.bot_url = url

    def hold_page(self) -> None:
        """Commands and clicks from the page wait (up to half a minute) until `release_page`:
        for a bot started after the sandbox it needs to talk to."""
        self._delivery.hold()

    def release_page(self) -> None:
        self._delivery.release()

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

        async def serve() -> None:
            self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
            ssl_context = self.tls.server_context() if self.tls else None
            await web.SockSite(self._runner, sock, ssl_context=ssl_context).start()

        self._loop.start(serve)
        return self

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self._web_api.add_routes(app)
        self._sockets.add_routes(app)
        add_page_routes(app, self.workspace, self._delivery)  # always on: it costs nothing unused
        return app

    def stop(self) -> None:
        """Close sockets, stop the server and join its thread."""

        async def shutdown() -> None:
            await self._sockets.close_all()
            if self._runner is not None:
                await self._runner.cleanup()

        self._loop.stop(shutdown)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def dump(self) -> str:
        return self.workspace.dump() + "\n" + self.views.dump()

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

    # ----------------------------------------------------------- Socket Mode

    def socket_connected(self, timeout: float = 10.0) -> bool:
        """Wait until a Socket Mode client holds a live (non-draining) connection."""
        return self._sockets.connected(timeout)

    def socket_connections(self) -> list[SocketConnection]:
        """Every connection ever opened (open or closed), oldest first."""
        return self._sockets.connections()

    def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Ask every Socket Mode client to reconnect, then close its connection (see ``SocketMode``)."""
        self._sockets.disconnect(reason)

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
        """Deliver a slash command as Slack does and return the ack (see ``Delivery.send_command``)."""
        return self._delivery.send_command(
            command,
            text,
            channel=channel,
            user=user,
            mode=mode,
            timestamp=timestamp,
            secret=secret,
            headers=headers,
            channel_name=channel_name,
            user_name=user_name,
            timeout=timeout,
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
        """Deliver an interaction as Slack does and return the ack (see ``Delivery.send_interaction``)."""
        return self._delivery.send_interaction(
            payload, mode=mode, timestamp=timestamp, secret=secret, headers=headers, timeout=timeout
        )

    def _deliver(self, *args: Any, **kwargs: Any) -> CommandResponse:
        """``Delivery.deliver``: a raw payload, for tests that replay one delivery as Slack does."""
        return self._delivery.deliver(*args, **kwargs)

    # ------------------------------------------- modals, Home tab, events

    def open_views(self, user: str = "U0ALICE") -> list[dict[str, Any]]:
        """``user``'s open modal stack, root first: each view as Slack returns it (``id``, ``hash``,
        ``blocks``, ``private_metadata``, ``callback_id``, ``state``, ...) plus ``errors``, the
        last ``response_action: errors`` map ({} if none; ``{"": code}`` if Slack refused the ack)."""
        return self.views.stack(user)

    def home(self, user: str) -> dict[str, Any] | None:
        """The last Home view published for ``user`` (``views.publish``), or None."""
        return self.views.home(user)

    def submit_view(
        self,
        view_id: str,
        values: dict[str, Any],
        *,
        user: str = "U0ALICE",
        mode: str = "http",
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """Submit a modal: a signed ``view_submission`` with ``view.state.values`` = ``values``
        (``{block_id: {action_id: {"type": ..., "value"|"selected_date"|...: ...}}}``); the ack's
        ``response_action`` is applied (errors / update / push / clear; an empty ack closes the
        view and any above it). A failed delivery leaves the view open with ``errors`` =
        ``{"": <delivery error>}``. Returns the ack."""
        return self._views.submit_view(view_id, values, user=user, mode=mode, timeout=timeout)

    def view_action(
        self,
        view_id: str,
        block_id: str,
        action_id: str,
        state: dict[str, Any] | str,
        *,
        user: str = "U0ALICE",
        values: dict[str, Any] | None = None,
        mode: str | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """A ``block_actions`` from inside a modal (see ``ViewDelivery.view_action``): ``state`` is
        the action's fields (``{"type": "static_select", "selected_option": {...}}``) or, as a
        string, the value of the element under ``action_id``. ``mode`` defaults to HTTP when
        ``bot_url`` is set, else Socket Mode."""
        return self._views.view_action(
            view_id, block_id, action_id, state, user=user, values=values, mode=mode, timeout=timeout
        )

    def home_action(
        self, user: str, action_id: str, value: str, *, mode: str | None = None
    ) -> CommandResponse:
        """A click in ``user``'s Home tab on the element ``action_id`` (a button's value, or the
        option value of an overflow / select)."""
        return self._views.home_action(user, action_id, value, mode=mode)

    def close_view(
        self, view_id: str, *, user: str = "U0ALICE", mode: str | None = None
    ) -> CommandResponse | None:
        """The user closes a modal (X / Cancel): it and the views above it go; if the view set
        ``notify_on_close``, a ``view_closed`` is sent and its ack returned (else None)."""
        return self._views.close_view(view_id, user=user, mode=mode)

    def send_shortcut(
        self,
        callback_id: str,
        *,
        user: str = "U0ALICE",
        mode: str = "http",
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """A global shortcut (``type: shortcut``), with a fresh trigger_id; returns the ack."""
        return self._views.send_shortcut(callback_id, user=user, mode=mode, timeout=timeout)

    def send_event(
        self,
        event: dict[str, Any],
        *,
        mode: str = "http",
        retry: tuple[int, str] | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """An Events API ``event_callback`` (signed JSON to ``bot_url``, or an ``events_api``
        envelope); ``retry=(n, reason)`` marks a redelivery. Returns the ack."""
        return self._views.send_event(event, mode=mode, retry=retry, timeout=timeout)

    def open_home(self, user: str, *, mode: str | None = None) -> CommandResponse:
        """``user`` opens the Home tab: ``app_home_opened`` (tab "home")."""
        return self._views.open_home(user, mode=mode)

    def archive_channel(
        self, channel: str, *, user: str = "U0ALICE", mode: str | None = None
    ) -> CommandResponse:
        """Archive ``channel`` (postMessage → ``is_archived``) and send ``channel_archive``."""
        return self._views.archive_channel(channel, user=user, mode=mode)

    def remove_bot(self, channel: str, *, actor: str = "U0ALICE", mode: str | None = None) -> CommandResponse:
        """Remove the bot from ``channel`` (postMessage → ``not_in_channel``) and send ``channel_left``."""
        return self._views.remove_bot(channel, actor=actor, mode=mode)
