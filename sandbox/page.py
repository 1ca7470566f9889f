"""The sandbox page: a browser view of the fake Slack workspace, as a Slack channel looks.

``FakeSlack`` registers these routes on its own server (always on: they cost nothing, and the
tests' fake and the local sandbox stay one implementation). The page is plain HTML, CSS and a
little JavaScript from ``static/``; it reads a JSON snapshot of the workspace and refreshes it
whenever the workspace changes (server-sent events from ``Workspace.subscribe``).

What a person does on the page goes to the bot the way Slack would send it (``sandbox.delivery``):
a typed slash command becomes ``send_command`` (the signed form POST to the bot's
``/slack/events``, or a Socket Mode envelope), a button click becomes ``send_interaction``
(``block_actions``). The bot cannot tell the page from Slack.

Routes: ``GET /`` (the page), ``GET /archives/<channel>[/p<ts>]`` (the page open at that channel
and message: the permalinks the bot hands out, as Slack serves them), ``GET /static/<file>``,
``GET /sandbox/state``, ``GET /sandbox/events``, ``POST /sandbox/command``,
``POST /sandbox/action``, ``GET /sandbox/files/<id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from sandbox.delivery import Delivery
from sandbox.state import BOT_NAME, BOT_USER_ID, Ephemeral, Message, StoredFile, Workspace

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
    app.router.add_get("/sandbox/files/{file_id}", page.file)


def snapshot(ws: Workspace, user: str = SANDBOX_USER) -> dict[str, Any]:
    """Everything the page shows, as JSON: channels, their messages with threads, ``user``'s
    ephemerals, and the names to show for user ids. Files carry a URL, never their bytes."""
    by_channel = ws.all_messages()
    ephemerals = ws.ephemerals(user=user)
    sent_at = {ru_id: ru.created for ru_id, ru in dict(ws.response_urls).items()}
    channel_ids = [SANDBOX_CHANNEL]
    for cid in [*by_channel, *(e.channel for e in ephemerals)]:
        if cid not in channel_ids:
            channel_ids.append(cid)
    # dict() copies in one step under the GIL, so a concurrent set_channel cannot break the read
    names = {cid: ch.name for cid, ch in dict(ws.channels).items()}
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
        channels.append({"id": cid, "name": names.get(cid, default_name), "messages": top})
    return {"user": user, "users": users, "channels": channels}


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
        self._streams: set[asyncio.Queue[dict[str, Any] | None]] = set()

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
        return web.json_response(snapshot(self.workspace, user), headers={"Cache-Control": "no-store"})

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
        self._ensure_defaults(channel, user)
        mode = await asyncio.get_running_loop().run_in_executor(None, self.delivery.page_mode)
        send = functools.partial(self.delivery.send_interaction, payload, mode=mode)
        resp = await asyncio.get_running_loop().run_in_executor(None, send)
        return web.json_response({"ok": resp.ok, "status": resp.status, "error": resp.error})

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
