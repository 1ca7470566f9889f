"""The bot calling Slack: the Web API methods, ``response_url`` and file uploads, over HTTP.

Routes: ``POST|GET /api/<method>`` (the Web API: ``chat.*``, ``files.*``, ``users.*``, ...),
``POST /response/<id>`` (a ``response_url``) and ``POST /upload/v1/<token>`` (step 2 of
``files_upload_v2``). Each handler authenticates the call, applies the faults and rate limits a
test asked for, and turns the call into a change of the ``Workspace``, whose rules are Slack's;
every call is recorded there, so tests can read what the bot sent.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from sandbox.socket_mode import SocketMode
from sandbox.state import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    ApiError,
    Fault,
    Workspace,
)
from sandbox.views import Views

Params = dict[str, Any]
Answer = tuple[int, Any, dict[str, str]]  # HTTP status, JSON body (or text), extra headers


class WebApi:
    """The HTTP handlers the bot's Slack clients call, over ``workspace``.

    ``base_url`` is the server's address once it is bound (files name their URLs by it);
    ``sockets`` mints the URL ``apps.connections.open`` answers.
    """

    def __init__(
        self,
        workspace: Workspace,
        bot_token: str,
        app_token: str,
        base_url: Callable[[], str],
        sockets: SocketMode,
        views: Views,
    ) -> None:
        self.workspace = workspace
        self.views = views
        self.bot_token = bot_token
        self.app_token = app_token
        self.base_url = base_url
        self.sockets = sockets
        self.methods: dict[str, Callable[[Params], Params]] = {
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
            "conversations.info": self._conversations_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._handle_api)
        # slack_sdk GETs a few methods, e.g. usergroups.users.list
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_post("/response/{url_id}", self._handle_response_url)
        app.router.add_post("/upload/v1/{token}", self._handle_upload)

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

    def _dispatch(self, method: str, params: Params, headers: dict[str, str]) -> Answer:
        """Authenticate, apply faults / rate limits, then run the method."""
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else params.pop("token", None)
        params.pop("token", None)
        handler = self.methods.get(method)
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

    def _auth_test(self, p: Params) -> Params:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, p: Params) -> Params:
        msg = self.workspace.post_message(
            p.get("channel"),
            p.get("text"),
            p.get("blocks"),
            p.get("thread_ts"),
            _truthy(p.get("reply_broadcast")),
        )
        return {"channel": msg.channel, "ts": msg.ts, "message": msg.to_api()}

    def _chat_update(self, p: Params) -> Params:
        msg = self.workspace.update_message(p.get("channel"), p.get("ts"), p.get("text"), p.get("blocks"))
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": msg.to_api()}

    def _chat_post_ephemeral(self, p: Params) -> Params:
        eph = self.workspace.post_ephemeral(
            p.get("channel"), p.get("user"), p.get("text"), p.get("blocks"), p.get("thread_ts")
        )
        return {"message_ts": eph.ts}

    def _chat_schedule_message(self, p: Params) -> Params:
        item = self.workspace.schedule_message(
            p.get("channel"), p.get("text"), p.get("post_at"), p.get("blocks")
        )
        return {
            "channel": item["channel"],
            "scheduled_message_id": item["scheduled_message_id"],
            "post_at": item["post_at"],
        }

    def _files_get_upload_url(self, p: Params) -> Params:
        f, token = self.workspace.start_upload(p.get("filename"), p.get("length"))
        return {"upload_url": f"{self.base_url()}upload/v1/{token}", "file_id": f.id}

    def _files_complete_upload(self, p: Params) -> Params:
        channel = p.get("channel_id") or (str(p.get("channels") or "").split(",")[0] or None)
        done = self.workspace.complete_upload(
            p.get("files"), channel, p.get("thread_ts"), p.get("initial_comment")
        )
        return {"files": [f.to_api(self.base_url()) for f in done]}

    def _users_info(self, p: Params) -> Params:
        if not p.get("user"):
            raise ApiError("user_not_found")
        u = self.workspace.user(str(p["user"]))
        return {
            "user": {
                "id": u.id,
                "team_id": TEAM_ID,
                "name": u.name,
                "real_name": u.name,
                "tz": u.tz,
                "tz_offset": _tz_offset(u.tz),
                "is_bot": False,
                "deleted": False,
                "profile": {"display_name": u.name, "real_name": u.name},
            }
        }

    def _usergroups_users_list(self, p: Params) -> Params:
        return {"users": self.workspace.usergroup_members(str(p.get("usergroup") or ""))}

    def _conversations_info(self, p: Params) -> Params:
        """The channel's name and whether it is archived / has the bot, as Slack's channel object."""
        channel_id = str(p.get("channel") or "")
        if not channel_id:
            raise ApiError("channel_not_found")
        ch = self.workspace.channel(channel_id)
        return {
            "channel": {
                "id": ch.id,
                "name": ch.name,
                "is_channel": ch.id.startswith("C"),
                "is_group": ch.id.startswith("G"),
                "is_im": ch.id.startswith("D"),
                "is_private": ch.id.startswith("G"),
                "is_archived": ch.archived,
                "is_member": ch.member,
                "context_team_id": TEAM_ID,
            }
        }

    # views.*: the rules live in sandbox.views; ``view`` arrives as JSON text (form) or a dict.

    def _views_open(self, p: Params) -> Params:
        return {"view": self.views.open(p.get("trigger_id") or p.get("interactivity_pointer"), p.get("view"))}

    def _views_push(self, p: Params) -> Params:
        return {"view": self.views.push(p.get("trigger_id") or p.get("interactivity_pointer"), p.get("view"))}

    def _views_update(self, p: Params) -> Params:
        view = self.views.update(p.get("view_id"), p.get("external_id"), p.get("hash"), p.get("view"))
        return {"view": view}

    def _views_publish(self, p: Params) -> Params:
        return {"view": self.views.publish(p.get("user_id"), p.get("hash"), p.get("view"))}

    def _apps_connections_open(self, p: Params) -> Params:
        return {"url": self.sockets.open_url()}

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

    def _apply_response_url(self, url_id: str, p: Params) -> Answer:
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


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _tz_offset(tz: str) -> int:
    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


async def _read_params(request: web.Request) -> Params:
    """Merge query string, JSON and form bodies (slack_sdk uses all three)."""
    params: Params = dict(request.query)
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


def _fault_response(fault: Fault) -> Answer:
    headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
    if fault.error is None:
        return fault.status, "Internal Server Error" if fault.status >= 500 else "error", headers
    return fault.status, {"ok": False, "error": fault.error}, headers
