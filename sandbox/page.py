"""The sandbox page: a browser view of the fake Slack workspace, as a Slack channel looks.

``FakeSlack`` registers these routes on its own server (always on: they cost nothing, and the
tests' fake and the local sandbox stay one implementation). The page is plain HTML, CSS and a
little JavaScript from ``static/``; it reads a JSON snapshot of the workspace and refreshes it
whenever the workspace changes (server-sent events from ``Workspace.subscribe``).

What a person does on the page goes to the bot the way Slack would send it (``sandbox.delivery``):
a typed slash command becomes ``send_command`` (the signed form POST to the bot's
``/slack/events``, or a Socket Mode envelope), a button click becomes ``send_interaction``
(``block_actions``). The bot cannot tell the page from Slack.

Modals, the Home tab, shortcuts and channel events go the same way, through the code the tests
drive (``sandbox.view_delivery``): Submit is a ``view_submission`` whose ``state.values`` the
server builds from the form (``sandbox.form_values``), a click or a changed dispatching input in
a view is a ``block_actions`` from that view, opening the Home tab sends ``app_home_opened``
(the app publishes its Home then), ⚡ sends a global shortcut, and the channel menu
archives the channel or removes the bot (``channel_archive`` / ``channel_left``).

Routes: ``GET /`` (the page), ``GET /archives/<channel>[/p<ts>]`` (the page open at that channel
and message: the permalinks the bot hands out, as Slack serves them), ``GET /static/<file>``,
``GET /sandbox/state``, ``GET /sandbox/events``, ``POST /sandbox/command``,
``POST /sandbox/action``, ``POST /sandbox/view_submit``, ``POST /sandbox/view_action``,
``POST /sandbox/view_close``, ``POST /sandbox/shortcut``, ``POST /sandbox/home_opened``,
``POST /sandbox/channel``,
``GET /sandbox/files/<id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from sandbox.delivery import CommandResponse, Delivery
from sandbox.form_values import STATEFUL, element_state, find_element, options_of, state_values
from sandbox.state import BOT_NAME, BOT_USER_ID, Ephemeral, Message, StoredFile, Workspace
from sandbox.view_delivery import ViewDelivery
from sandbox.views import Views

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
SANDBOX_CHANNEL = "C0SANDBOX"
SANDBOX_CHANNEL_NAME = "sandbox"
SANDBOX_USER = "U0SANDBOX"
SANDBOX_USER_NAME = "you"
KEEPALIVE_SECONDS = 15.0
# Workspace events that change nothing a person sees (every Web API call is one): not streamed.
QUIET_EVENTS = {"request", "socket_connected", "socket_closed"}
MAX_COMMAND_CHARS = 4000
# The names the page is opened by: the server binds 127.0.0.1 only.
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
MAX_ID_CHARS = 255  # block_id, action_id, callback_id (SLACK.md §8.2)
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")
# What ⚡ offers when the manifest lists no global shortcut (the report form's, issue 25).
DEFAULT_SHORTCUTS = [
    {"name": "Run a report", "callback_id": "run_report", "description": "Pick a report and run it"}
]


def add_page_routes(app: web.Application, workspace: Workspace, delivery: Delivery) -> None:
    """Serve the sandbox page and its endpoints from the fake Slack's own aiohttp ``app``."""
    page = _Page(workspace, delivery)
    app.on_shutdown.append(page.close_streams)
    app.router.add_get("/", page.index)
    # Slack's permalinks: the page reads the channel, the message (p + its ts without the dot)
    # and a reply's ``thread_ts`` from its own address, and opens them.
    app.router.add_get("/archives/{channel:[A-Z0-9]+}", page.index)
    app.router.add_get(r"/archives/{channel:[A-Z0-9]+}/{message:p\d{7,}}", page.index)
    app.router.add_get("/static/{name}", page.static)
    app.router.add_get("/sandbox/state", page.state)
    app.router.add_get("/sandbox/events", page.events)
    app.router.add_post("/sandbox/command", page.command)
    app.router.add_post("/sandbox/action", page.action)
    app.router.add_post("/sandbox/view_submit", page.view_submit)
    app.router.add_post("/sandbox/view_action", page.view_action)
    app.router.add_post("/sandbox/view_close", page.view_close)
    app.router.add_post("/sandbox/shortcut", page.shortcut)
    app.router.add_post("/sandbox/home_opened", page.home_opened)
    app.router.add_post("/sandbox/channel", page.channel_event)
    app.router.add_get("/sandbox/files/{file_id}", page.file)


def global_shortcuts() -> list[dict[str, str]]:
    """The global shortcuts the app's manifest declares (``features.shortcuts``), as ⚡ lists
    them; the report form's own when it declares none yet. Read from ``bot.manifest`` on demand:
    the fake Slack also runs without the bot's settings."""
    try:
        from bot.manifest import build_manifest

        declared = build_manifest().get("features", {}).get("shortcuts") or []
    except Exception:  # the manifest cannot be built here: offer the default
        logger.debug("no manifest for the page's shortcuts", exc_info=True)
        declared = []
    found = [
        {k: str(s.get(k) or "") for k in ("name", "callback_id", "description")}
        for s in declared
        if isinstance(s, dict) and s.get("type") == "global" and s.get("callback_id")
    ]
    return found or [dict(s) for s in DEFAULT_SHORTCUTS]


def snapshot(
    ws: Workspace,
    user: str = SANDBOX_USER,
    views: Views | None = None,
    shortcuts: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as JSON: channels, their messages with threads, ``user``'s
    ephemerals, the names to show for user ids, ``user``'s Home view and open modals (each with
    its ``errors``), every channel a conversations_select may offer, and the global shortcuts.
    Files carry a URL, never their bytes."""
    by_channel = ws.all_messages()
    ephemerals = ws.ephemerals(user=user)
    sent_at = {ru_id: ru.created for ru_id, ru in dict(ws.response_urls).items()}
    channel_ids = [SANDBOX_CHANNEL]
    for cid in [*by_channel, *(e.channel for e in ephemerals)]:
        if cid not in channel_ids:
            channel_ids.append(cid)
    # dict() copies in one step under the GIL, so a concurrent set_channel cannot break the read
    known = dict(ws.channels)
    names = {cid: ch.name for cid, ch in known.items()}
    users = {uid: u.name for uid, u in dict(ws.users).items()}
    users.setdefault(SANDBOX_USER, SANDBOX_USER_NAME)
    users[BOT_USER_ID] = BOT_NAME
    channels = []
    for cid in channel_ids:
        messages = by_channel.get(cid, [])
        replies: dict[str, list[dict[str, Any]]] = {}
        for m in messages:
            if m.thread_ts:
                replies.setdefault(m.thread_ts, []).append(_message_view(m))
        for e in ephemerals:
            if e.channel == cid and e.thread_ts:
                replies.setdefault(e.thread_ts, []).append(_ephemeral_view(e))
        top: list[dict[str, Any]] = []
        for m in messages:
            if not m.thread_ts or m.reply_broadcast:
                view = _message_view(m)
                if not m.thread_ts:
                    view["replies"] = sorted(replies.get(m.ts, []), key=lambda r: float(r["ts"]))
                top.append(view)
        for e in ephemerals:
            if e.channel == cid and not e.thread_ts:
                top.append(_ephemeral_view(e, sent_at.get(e.response_url_id or "")))
        top.sort(key=lambda item: item.get("shown_at") or float(item["ts"]))
        default_name = SANDBOX_CHANNEL_NAME if cid == SANDBOX_CHANNEL else cid.lower()
        ch = known.get(cid)
        channels.append(
            {
                "id": cid,
                "name": names.get(cid, default_name),
                "messages": top,
                "archived": bool(ch and ch.archived),
                "bot_member": not ch or ch.member,
            }
        )
    # what a conversations_select offers: channels, not the DMs the bot wrote to a user id
    conversations = [
        {"id": str(c["id"]), "name": str(c["name"])} for c in channels if CHANNEL_ID.match(str(c["id"]))
    ]
    conversations += [
        {"id": cid, "name": ch.name}
        for cid, ch in known.items()
        if cid not in channel_ids and CHANNEL_ID.match(cid)
    ]
    return {
        "user": user,
        "users": users,
        "channels": channels,
        "conversations": conversations,
        "home": views.home(user) if views else None,
        "modals": views.stack(user) if views else [],
        "shortcuts": shortcuts if shortcuts is not None else [],
    }


def _file_view(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "title": f.title or f.name,
        "mimetype": f.mimetype,
        "size": len(f.data or b""),
        "url": f"/sandbox/files/{f.id}",
    }


def _message_view(m: Message) -> dict[str, Any]:
    return {
        "kind": "message",
        "ts": m.ts,
        "user": m.user,
        "bot": bool(m.bot_id),
        "text": m.text,
        "blocks": m.blocks,
        "thread_ts": m.thread_ts,
        "subtype": m.subtype,
        "files": [_file_view(f) for f in m.files],
        "edited": bool(m.edits),
    }


def _ephemeral_view(e: Ephemeral, sent_at: float | None = None) -> dict[str, Any]:
    """``sent_at``: when the command it answers was sent. Slack shows a command's ack where the
    command was typed, even when the worker's status message reached Slack before the ack did
    (local mode's worker is that quick), so acks are placed by that time."""
    view = {
        "kind": "ephemeral",
        "ts": e.ts,
        "user": BOT_USER_ID,
        "bot": True,
        "text": e.text,
        "blocks": e.blocks,
        "thread_ts": e.thread_ts,
        "source": e.source,
        "files": [],
        "edited": bool(e.edits),
    }
    if e.source == "ack" and sent_at is not None:
        view["shown_at"] = sent_at
    return view


def split_command(typed: str) -> tuple[str, str]:
    """``"/run-report sales region=emea"`` → ``("/run-report", "sales region=emea")``, as Slack
    splits what a person typed into ``command`` and ``text``."""
    typed = typed.strip()
    command, _, text = typed.partition(" ")
    return command, text.strip()


class _Page:
    """The handlers: they show and change ``workspace``, and send to the bot through ``delivery``."""

    def __init__(self, workspace: Workspace, delivery: Delivery) -> None:
        self.workspace = workspace
        self.delivery = delivery
        self.views = delivery.views
        self.view_delivery = ViewDelivery(delivery)
        self._shortcuts: list[dict[str, str]] | None = None
        self._streams: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def shortcuts(self) -> list[dict[str, str]]:
        """The manifest's global shortcuts, read once (building the manifest reads settings)."""
        if self._shortcuts is None:
            self._shortcuts = global_shortcuts()
        return self._shortcuts

    async def close_streams(self, app: web.Application) -> None:
        """On shutdown, end every open event stream (``None`` tells its handler to return)."""
        for queue in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = STATIC / name
        kind = STATIC_TYPES.get(path.suffix)
        if "/" in name or name.startswith(".") or kind is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            content_type=kind,
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def state(self, request: web.Request) -> web.StreamResponse:
        user = request.query.get("user") or SANDBOX_USER
        shortcuts = await asyncio.get_running_loop().run_in_executor(None, self.shortcuts)
        return web.json_response(
            snapshot(self.workspace, user, self.views, shortcuts), headers={"Cache-Control": "no-store"}
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: one ``data:`` line per visible change; the page then re-reads
        ``/sandbox/state``. Workspace listeners run on any thread, so they only hand the event
        to this loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=1000)

        def listener(event: dict[str, Any]) -> None:
            if event.get("type") in QUIET_EVENTS:
                return
            brief = {"type": event.get("type"), "channel": event.get("channel")}
            if event.get("type") == "view":
                brief["user"] = event.get("user")
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(_offer, queue, brief)

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        unsubscribe = self.workspace.subscribe(listener)
        self._streams.add(queue)
        try:
            await response.write(b'retry: 1000\ndata: {"type": "hello"}\n\n')
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")  # also finds browsers that left
                    continue
                if event is None:
                    break
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except ConnectionResetError:
            pass
        finally:
            self._streams.discard(queue)
            unsubscribe()
        return response

    async def command(self, request: web.Request) -> web.StreamResponse:
        """What a person typed in the message box: a slash command goes to the bot as Slack
        sends it; other text is posted as their message (the bot does not read messages)."""
        body = await _json_body(request)
        typed = str(body.get("text") or "").strip()
        channel = str(body.get("channel") or SANDBOX_CHANNEL)
        user = str(body.get("user") or SANDBOX_USER)
        if not typed:
            return web.json_response({"ok": False, "error": "Type a message or a command."}, status=400)
        if len(typed) > MAX_COMMAND_CHARS:
            return web.json_response(
                {"ok": False, "error": f"At most {MAX_COMMAND_CHARS} characters, please."}, status=400
            )
        self._ensure_defaults(channel, user)
        if not typed.startswith("/"):
            self.workspace.post_message(channel, typed, user=user, check_membership=False)
            return web.json_response({"ok": True, "posted": True})
        command, text = split_command(typed)
        mode = await asyncio.get_running_loop().run_in_executor(None, self.delivery.page_mode)
        send = functools.partial(
            self.delivery.send_command, command, text, channel=channel, user=user, mode=mode
        )
        started = time.monotonic()
        # send_command blocks until the bot acks (up to 3 s): never on this loop.
        resp = await asyncio.get_running_loop().run_in_executor(None, send)
        return web.json_response(
            {
                "ok": resp.ok,
                "status": resp.status,
                "error": resp.error,
                "elapsed": round(time.monotonic() - started, 3),
            }
        )

    async def action(self, request: web.Request) -> web.StreamResponse:
        """A button click or an overflow menu's choice on the page, delivered to the bot as
        Slack's ``block_actions``."""
        body = await _json_body(request)
        channel = str(body.get("channel") or SANDBOX_CHANNEL)
        user = str(body.get("user") or SANDBOX_USER)
        ts = str(body.get("message_ts") or "")
        ephemeral = bool(body.get("ephemeral"))
        label = {"type": "plain_text", "text": str(body.get("label") or ""), "emoji": True}
        action: dict[str, Any] = {
            "type": "button",
            "action_id": str(body.get("action_id") or ""),
            "block_id": str(body.get("block_id") or ""),
            "action_ts": f"{time.time():.6f}",
        }
        if body.get("type") == "overflow":  # an overflow's choice: the option, as Slack sends it
            action.update(
                type="overflow", selected_option={"text": label, "value": str(body.get("value") or "")}
            )
        else:
            action.update(text=label, value=str(body.get("value") or ""))
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": channel},
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            },
            "actions": [action],
            "state": {"values": {}},
        }
        if not ephemeral:
            found = [m for m in self.workspace.all_messages().get(channel, []) if m.ts == ts]
            if not found:
                return web.json_response({"ok": False, "error": "That message is gone."}, status=404)
            payload["message"] = found[0].to_api()
            if action["type"] == "overflow":
                action["selected_option"] = _offered_option(found[0].blocks or [], action)
        self._ensure_defaults(channel, user)
        mode = await asyncio.get_running_loop().run_in_executor(None, self.delivery.page_mode)
        send = functools.partial(self.delivery.send_interaction, payload, mode=mode)
        resp = await asyncio.get_running_loop().run_in_executor(None, send)
        return web.json_response({"ok": resp.ok, "status": resp.status, "error": resp.error})

    # ------------------------------------------------- modals, Home, shortcuts

    def _own_view(self, view_id: Any, user: str) -> dict[str, Any]:
        """The modal or Home view ``view_id`` if it is ``user``'s, else a 404: the page acts for
        its own user only."""
        found = self.views.find(str(view_id or ""))
        if found is None or found[0] != user:
            raise web.HTTPNotFound(text="That view is closed.")
        return found[1]

    async def _deliver(self, send: Callable[[str], CommandResponse | None]) -> web.StreamResponse:
        """Run ``send(mode)`` off the loop (it waits for the bot's ack) and answer with the ack."""
        loop = asyncio.get_running_loop()
        mode = await loop.run_in_executor(None, self.delivery.page_mode)
        resp = await loop.run_in_executor(None, send, mode)
        if resp is None:  # nothing was sent (a view closed without notify_on_close)
            return web.json_response({"ok": True, "sent": False})
        return web.json_response({"ok": resp.ok, "status": resp.status, "error": resp.error})

    async def view_submit(self, request: web.Request) -> web.StreamResponse:
        """Submit in a modal: ``{view_id, values: {block_id: {action_id: entered}}}``, sent as
        ``FakeSlack.submit_view`` sends it, with ``state.values`` built from the view's inputs."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        view = self._own_view(body.get("view_id"), user)
        if view["type"] != "modal":
            raise web.HTTPBadRequest(text="only a modal is submitted")
        values = state_values(view, body.get("values"))
        return await self._deliver(
            lambda mode: self.view_delivery.submit_view(view["id"], values, user=user, mode=mode)
        )

    async def view_action(self, request: web.Request) -> web.StreamResponse:
        """A click (button, overflow) or a changed dispatching input in a modal or the Home tab:
        ``{view_id, block_id, action_id, value, values?}``, a ``block_actions`` from that view."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        view = self._own_view(body.get("view_id"), user)
        block_id = _short_id(body.get("block_id"))
        action_id = _short_id(body.get("action_id"))
        element = find_element(view, block_id, action_id)
        if element is None:
            raise web.HTTPNotFound(text="The view has no such element.")
        raw = body.get("value")
        state: dict[str, Any] | str
        if element.get("type") in STATEFUL:
            state = element_state(element, raw)
        else:  # a button's value, an overflow's option: the view must offer it (ViewDelivery)
            state = str(raw or "")
        values = state_values(view, body.get("values")) if view["type"] == "modal" else None
        return await self._deliver(
            lambda mode: self.view_delivery.view_action(
                view["id"], block_id, action_id, state, user=user, values=values, mode=mode
            )
        )

    async def view_close(self, request: web.Request) -> web.StreamResponse:
        """Close (or ×) on a modal: it and the views above it go; ``view_closed`` only when it
        asked for it (``notify_on_close``)."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        view = self._own_view(body.get("view_id"), user)
        if view["type"] != "modal":
            raise web.HTTPBadRequest(text="the Home tab does not close")
        return await self._deliver(
            lambda mode: self.view_delivery.close_view(view["id"], user=user, mode=mode)
        )

    async def shortcut(self, request: web.Request) -> web.StreamResponse:
        """⚡: one of the manifest's global shortcuts, sent as Slack sends it (no channel)."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        callback_id = str(body.get("callback_id") or "")
        offered = await asyncio.get_running_loop().run_in_executor(None, self.shortcuts)
        if callback_id not in {s["callback_id"] for s in offered}:
            raise web.HTTPBadRequest(text="The app has no such shortcut.")
        self._ensure_defaults(SANDBOX_CHANNEL, user)
        return await self._deliver(
            lambda mode: self.view_delivery.send_shortcut(callback_id, user=user, mode=mode)
        )

    async def home_opened(self, request: web.Request) -> web.StreamResponse:
        """The user opens the app's Home tab: ``app_home_opened``, as Slack sends on every visit
        (with the last Home view, if any); the app answers by publishing one."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        self._ensure_defaults(SANDBOX_CHANNEL, user)
        return await self._deliver(lambda mode: self.view_delivery.open_home(user, mode=mode))

    async def channel_event(self, request: web.Request) -> web.StreamResponse:
        """The channel menu: ``{channel, event: "archive" | "remove_bot"}``. The channel changes
        as Slack's would (posting then fails), and the bot hears the event Slack sends."""
        body = await _json_body(request)
        user = str(body.get("user") or SANDBOX_USER)
        channel = str(body.get("channel") or "")
        event = body.get("event")
        if not CHANNEL_ID.match(channel):
            raise web.HTTPBadRequest(text="expected a channel id")
        self._ensure_defaults(channel, user)
        if event == "archive":
            return await self._deliver(
                lambda mode: self.view_delivery.archive_channel(channel, user=user, mode=mode)
            )
        if event == "remove_bot":
            return await self._deliver(
                lambda mode: self.view_delivery.remove_bot(channel, actor=user, mode=mode)
            )
        raise web.HTTPBadRequest(text="expected event archive or remove_bot")

    async def file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        found = [f for f in self.workspace.files() if f.id == file_id and f.data is not None]
        if not found:
            raise web.HTTPNotFound()
        f = found[0]
        inline = f.mimetype.startswith("image/") or f.mimetype.startswith("text/")
        disposition = "inline" if inline else "attachment"
        safe_name = f.name.replace('"', "")
        return web.Response(
            body=f.data,
            content_type=f.mimetype,
            headers={
                "Content-Disposition": f'{disposition}; filename="{safe_name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    def _ensure_defaults(self, channel: str, user: str) -> None:
        """Name the sandbox's own channel and user as the page shows them, the first time."""
        ws = self.workspace
        if channel == SANDBOX_CHANNEL and channel not in ws.channels:
            ws.set_channel(channel, name=SANDBOX_CHANNEL_NAME)
        if user == SANDBOX_USER and user not in ws.users:
            ws.set_user(user, name=SANDBOX_USER_NAME)


def _short_id(raw: Any) -> str:
    """A block_id or action_id from the page, capped as Slack caps them."""
    return str(raw or "")[:MAX_ID_CHARS]


def _offered_option(blocks: list[dict[str, Any]], action: dict[str, Any]) -> dict[str, Any]:
    """The option object the message's overflow offers for the chosen value, as Slack sends it;
    the page's own text and value when the message offers no such option."""
    chosen: dict[str, Any] = action["selected_option"]
    element = find_element({"blocks": blocks}, action["block_id"], action["action_id"]) or {}
    offered = [o for o in options_of(element) if o.get("value") == chosen["value"]]
    return offered[0] if offered else chosen


def _offer(queue: asyncio.Queue[dict[str, Any] | None], event: dict[str, Any]) -> None:
    """Queue an event for one browser; a browser that stopped reading loses events, not memory
    (it re-reads the whole state on the next one anyway)."""
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(event)


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object a POST from the page carries, or a 4xx for anything another site could send.

    Any web page may POST to 127.0.0.1 (mode ``no-cors``), but only as a "simple" request:
    ``text/plain`` or a form. Requiring ``application/json`` makes the browser ask first (a CORS
    preflight, which this server never approves). A browser also names the page that sent the
    request in ``Origin``: it must be this server itself, reached by a loopback name (a foreign
    name that resolves to 127.0.0.1, DNS rebinding, is refused too). Clients that are not
    browsers (tests, curl) send no ``Origin``; they could run commands anyway.
    """
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="expected Content-Type: application/json")
    origin = request.headers.get("Origin")
    if origin is not None and (
        origin != f"http://{request.host}" or urlsplit(origin).hostname not in LOOPBACK_NAMES
    ):
        raise web.HTTPForbidden(text="only the sandbox page itself may send commands")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body
