"""In-memory model of the fake Slack workspace.

This module holds everything the fake Slack *remembers* (channels, users,
messages, threads, ephemerals, files, minted ``response_url``s, recorded
requests) and the rules Slack applies when a Web API call changes that state
(membership, archived channels, Block Kit limits, ``msg_too_long``, edit
history).  It knows nothing about HTTP or WebSockets: ``web_api``,
``socket_mode`` and ``delivery`` serve it over aiohttp, and the sandbox page
(``page``) reads the same model.  Keeping them apart keeps the Slack rules
readable in one place.

Every public method is thread-safe: the aiohttp loop thread mutates the
workspace while synchronous test code reads it.  The list readers (messages,
threads, ephemerals, files, requests) return deep copies, so a test can never
observe a half-applied change or mutate the fake's state.  Stored blocks are
replaced on edit, never changed in place, so the fake's own snapshots (what a
Web API call answers) share them; listeners get copies of their own.  ``channel()``,
``user()`` and the public dicts ``channels``, ``users`` and ``response_urls``
are live: copy a dict in one step (``dict(ws.channels)``, atomic under the GIL)
before iterating it, as ``page.snapshot`` does, and never change what they hold.

Platform facts (limits, error codes) come from Slack's documentation and slack_sdk; each names its source.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import mimetypes
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

logger = logging.getLogger(__name__)

TEAM_ID = "T0TEST"
TEAM_NAME = "Fake Workspace"
TEAM_DOMAIN = "fake-workspace"
APP_ID = "A0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "reportbot"
DEFAULT_TZ = "America/New_York"

# Block Kit and message limits: docs.slack.dev/reference/block-kit/blocks and slack_sdk's
# validators (slack_sdk/models/blocks/blocks.py); text over 40,000 characters is truncated.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_TEXT = 40_000

# A response_url works 5 times within 30 minutes (api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60

_ENTITY_RE = re.compile(r"<((?:[!@#][^<>]*)|(?:(?:https?|mailto):[^<>]*))>")


def mentions(text: str | None) -> list[str]:
    """Return the special mrkdwn entities Slack would render in ``text``.

    Slack turns ``<!channel>``, ``<!here>``, ``<@U…>``, ``<#C…>`` and
    ``<http…|label>`` into live mentions and (possibly disguised) links.  Text
    the bot escaped correctly (``&lt;!channel&gt;``) yields nothing, so tests
    use this to prove user input cannot ping a channel or hide a link.
    """
    if not text:
        return []
    return [m.group(0) for m in _ENTITY_RE.finditer(text)]


class ApiError(Exception):
    """A Slack Web API error: answered as HTTP 200 ``{"ok": false, "error": code}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass
class MessageVersion:
    """An earlier version of an edited message (``chat.update`` history)."""

    text: str
    blocks: list[dict[str, Any]] | None
    replaced_at: float


@dataclass
class StoredFile:
    """A file uploaded through the files_upload_v2 three-step flow."""

    id: str
    name: str
    length: int
    title: str | None = None
    data: bytes | None = None
    mimetype: str = "application/octet-stream"
    channel: str | None = None
    thread_ts: str | None = None
    completed: bool = False

    def to_api(self, base_url: str) -> dict[str, Any]:
        """The file object Slack returns from files.completeUploadExternal."""
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": self.mimetype,
            "filetype": self.name.rsplit(".", 1)[-1] if "." in self.name else "binary",
            "size": len(self.data or b""),
            "user": BOT_USER_ID,
            "url_private": f"{base_url}files/{self.id}/{self.name}",
            "channels": [self.channel] if self.channel else [],
            "shares": {},
        }


@dataclass
class Message:
    """A message stored in a channel or thread (what a human would see)."""

    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    reply_broadcast: bool = False
    subtype: str | None = None
    files: list[StoredFile] = field(default_factory=list)
    edits: list[MessageVersion] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The ``message`` object Slack returns from chat.postMessage / chat.update."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "ts": self.ts, "team": TEAM_ID}
        if self.user:
            out["user"] = self.user
        if self.bot_id:
            out.update(bot_id=self.bot_id, app_id=APP_ID)
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.subtype:
            out["subtype"] = self.subtype
        return out


@dataclass
class Ephemeral:
    """A message only one user sees ("Only visible to you").

    ``source`` says how it got there: ``chat.postEphemeral``, ``ack`` (the
    immediate answer to a command), ``response_url`` or ``slack`` (an error
    Slack itself shows, e.g. ``operation_timeout``).
    """

    ts: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    response_url_id: str | None = None
    edits: list[MessageVersion] = field(default_factory=list)


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    archived: bool = False


@dataclass
class User:
    id: str
    name: str
    tz: str = DEFAULT_TZ


@dataclass
class ResponseUrl:
    """A minted ``response_url`` and how often it has been used."""

    id: str
    channel: str
    user: str
    created: float
    uses: int = 0
    message_ts: str | None = None  # set for interactions on a channel message


@dataclass
class RecordedRequest:
    """One request the fake answered (Web API, response_url or upload)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: Any
    at: float
    # The caller's address ("host:port"): one per connection, so a test can tell calls that
    # shared a kept-alive connection from calls that each opened one.
    peer: str = ""


@dataclass
class Fault:
    """An injected failure for the next ``times`` calls of ``method``."""

    method: str
    error: str | None
    status: int
    times: int
    retry_after: int = 1


class TokenBucket:
    """Per-key token bucket: ``per_second`` refill, ``burst`` capacity.

    Models chat.postMessage's ~1 message/s per channel with short bursts.
    """

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float]) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> int:
        """Take a token; return 0 if allowed, else the integer ``Retry-After`` seconds."""
        now = self._clock()
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return 0
        self._state[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.per_second))


def parse_blocks(raw: Any) -> list[dict[str, Any]] | None:
    """Accept blocks as a list (JSON body) or a JSON string (form body)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise ApiError("invalid_blocks_format")
    return raw


def validate_blocks(blocks: list[dict[str, Any]] | None, max_blocks: int = MAX_BLOCKS) -> None:
    """Enforce the Block Kit limits above; raise ``invalid_blocks``. A message holds
    ``MAX_BLOCKS`` blocks; a modal or Home view passes its own limit (100).

    Details go in ``response_metadata.messages`` in Slack's own style, so a
    bot that logs them gets something useful.
    """
    if not blocks:
        return
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = block.get("type")
        if not kind:
            problems.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
            problems.append(
                f"[ERROR] must be less than {MAX_BLOCK_ID + 1} characters [json-pointer:{where}/block_id]"
            )
        text = block.get("text")
        text_value = text.get("text", "") if isinstance(text, dict) else ""
        if kind == "section":
            if len(text_value) > MAX_SECTION_TEXT:
                problems.append(
                    f"[ERROR] must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{where}/text/text]"
                )
            if len(block.get("fields") or []) > MAX_SECTION_FIELDS:
                problems.append(
                    f"[ERROR] no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{where}/fields]"
                )
        elif kind == "header" and len(text_value) > MAX_HEADER_TEXT:
            problems.append(
                f"[ERROR] must be less than {MAX_HEADER_TEXT + 1} characters [json-pointer:{where}/text/text]"
            )
        elif kind == "context" and len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
            problems.append(
                f"[ERROR] no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{where}/elements]"
            )
        elif kind == "actions" and len(block.get("elements") or []) > MAX_ACTIONS_ELEMENTS:
            problems.append(
                f"[ERROR] no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{where}/elements]"
            )
    if problems:
        raise ApiError("invalid_blocks", response_metadata={"messages": problems})


class Workspace:
    """The fake workspace: channels, users, messages and the rules for changing them.

    ``clock`` is injectable so tests can age ``response_url``s past 30 minutes
    without sleeping.  ``listeners`` are called (outside the lock) with an
    event dict after every change; the sandbox page streams them to a browser.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self.reset()

    # ------------------------------------------------------------------ basics

    def reset(self) -> None:
        """Forget all content, faults, rate limits and configuration."""
        with self._lock:
            self.channels: dict[str, Channel] = {}
            self.users: dict[str, User] = {}
            self.usergroups: dict[str, list[str]] = {}
            self._messages: dict[str, list[Message]] = {}
            self._ephemerals: list[Ephemeral] = []
            self._files: dict[str, StoredFile] = {}
            self._upload_tokens: dict[str, str] = {}
            self.response_urls: dict[str, ResponseUrl] = {}
            self._requests: list[RecordedRequest] = []
            self._faults: list[Fault] = []
            self._scheduled: list[dict[str, Any]] = []
            self.post_message_limiter: TokenBucket | None = None
        self.emit({"type": "reset"})

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every change; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def emit(self, event: dict[str, Any]) -> None:
        """Notify subscribers of a change (called outside the lock; errors are logged)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(_copy_event(event))
            except Exception:  # a broken listener must not break Slack
                logger.exception("fake slack listener failed")

    def new_id(self, prefix: str) -> str:
        """Slack-looking IDs: ``F0000001``, ``E0000002``…"""
        return f"{prefix}{next(self._ids):07d}"

    def mint_ts(self) -> str:
        """Unique, strictly increasing ``"1700000000.000100"``-style timestamps."""
        with self._lock:
            now_us = int(self.clock() * 1_000_000)
            self._last_ts_us = max(self._last_ts_us + 1, now_us)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    # ------------------------------------------------------- channels & users

    def set_channel(
        self, channel_id: str, *, member: bool = True, archived: bool = False, name: str | None = None
    ) -> None:
        with self._lock:
            self.channels[channel_id] = Channel(channel_id, name or channel_id.lower(), member, archived)

    def channel(self, channel_id: str | None) -> Channel:
        """Look a channel up, auto-creating unknown IDs as member channels."""
        if not channel_id:
            raise ApiError("channel_not_found")
        with self._lock:
            if channel_id not in self.channels:
                self.set_channel(channel_id)
            return self.channels[channel_id]

    def writable_channel(self, channel_id: str | None) -> Channel:
        """Channel the bot may post into, else ``is_archived`` / ``not_in_channel``."""
        ch = self.channel(channel_id)
        if ch.archived:
            raise ApiError("is_archived")
        if not ch.member:
            raise ApiError("not_in_channel")
        return ch

    def archive_channel(self, channel_id: str) -> Channel:
        """The channel is archived: posting to it answers ``is_archived`` from now on."""
        with self._lock:
            ch = self.channel(channel_id)
            ch.archived = True
            changed = replace(ch)
        self.emit({"type": "channel_changed", "channel": changed.id})
        return changed

    def remove_bot(self, channel_id: str) -> Channel:
        """The bot is no longer a member: posting answers ``not_in_channel`` from now on."""
        with self._lock:
            ch = self.channel(channel_id)
            ch.member = False
            changed = replace(ch)
        self.emit({"type": "channel_changed", "channel": changed.id})
        return changed

    def set_user(self, user_id: str, *, name: str | None = None, tz: str = DEFAULT_TZ) -> None:
        with self._lock:
            self.users[user_id] = User(user_id, name or user_id.lower(), tz)

    def user(self, user_id: str) -> User:
        with self._lock:
            if user_id not in self.users:
                self.set_user(user_id)
            return self.users[user_id]

    def set_usergroup(self, usergroup: str, users: list[str]) -> None:
        with self._lock:
            self.usergroups[usergroup] = list(users)

    def usergroup_members(self, usergroup: str) -> list[str]:
        """usergroups.users.list: the group's user ids, else ``no_such_subteam``."""
        with self._lock:
            if usergroup not in self.usergroups:
                raise ApiError("no_such_subteam")
            return list(self.usergroups[usergroup])

    # ---------------------------------------------------------------- messages

    def _find(self, channel: str, ts: str) -> Message | None:
        for msg in self._messages.get(channel, []):
            if msg.ts == ts:
                return msg
        return None

    def post_message(
        self,
        channel: str | None,
        text: str | None,
        blocks: Any = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        *,
        user: str | None = None,
        check_membership: bool = True,
        subtype: str | None = None,
        files: list[StoredFile] | None = None,
    ) -> Message:
        """chat.postMessage semantics; also used for acks, response_urls and files."""
        ch = self.writable_channel(channel) if check_membership else self.channel(channel)
        parsed = parse_blocks(blocks)
        validate_blocks(parsed)
        if not text and not parsed and not files:
            raise ApiError("no_text")
        text = (text or "")[:MAX_TEXT]  # postMessage truncates instead of failing
        with self._lock:
            if thread_ts:
                parent = self._find(ch.id, thread_ts)
                if parent is not None and parent.thread_ts:  # a reply's ts: Slack threads on its parent
                    thread_ts = parent.thread_ts
            msg = Message(
                ts=self.mint_ts(),
                channel=ch.id,
                text=text,
                blocks=parsed,
                thread_ts=thread_ts or None,
                user=user or BOT_USER_ID,
                bot_id=None if user else BOT_ID,
                reply_broadcast=bool(reply_broadcast and thread_ts),
                subtype=subtype,
                files=list(files or []),
            )
            self._messages.setdefault(ch.id, []).append(msg)
            snapshot = _message_snapshot(msg)
        self.emit({"type": "message", "channel": ch.id, "message": _event_view(snapshot)})
        return snapshot

    def update_message(
        self, channel: str | None, ts: str | None, text: str | None, blocks: Any = None
    ) -> Message:
        """chat.update: edit the bot's own message in place, keeping history."""
        ch = self.channel(channel)
        parsed = parse_blocks(blocks)
        validate_blocks(parsed)
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        with self._lock:
            msg = self._find(ch.id, ts or "")
            if msg is None:
                raise ApiError("message_not_found")
            if msg.bot_id != BOT_ID:
                raise ApiError("cant_update_message")
            if text is None and parsed is None:
                raise ApiError("no_text")
            msg.edits.append(MessageVersion(msg.text, msg.blocks, self.clock()))
            if text is not None:
                msg.text = text
            if parsed is not None:
                msg.blocks = parsed
            snapshot = _message_snapshot(msg)
        self.emit({"type": "message_changed", "channel": ch.id, "message": _event_view(snapshot)})
        return snapshot

    def delete_message(self, channel: str, ts: str) -> None:
        with self._lock:
            msg = self._find(channel, ts)
            if msg is None:
                raise ApiError("message_not_found")
            self._messages[channel].remove(msg)
        self.emit({"type": "message_deleted", "channel": channel, "ts": ts})

    def post_ephemeral(
        self,
        channel: str | None,
        user: str | None,
        text: str | None,
        blocks: Any = None,
        thread_ts: str | None = None,
        *,
        source: str = "chat.postEphemeral",
        response_url_id: str | None = None,
        check_membership: bool = True,
    ) -> Ephemeral:
        """chat.postEphemeral semantics (``msg_too_long`` rather than truncation)."""
        ch = self.writable_channel(channel) if check_membership else self.channel(channel)
        if not user:
            raise ApiError("user_not_found")
        parsed = parse_blocks(blocks)
        validate_blocks(parsed)
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        if not text and not parsed:
            raise ApiError("no_text")
        eph = Ephemeral(
            self.mint_ts(), ch.id, user, text or "", parsed, thread_ts or None, source, response_url_id
        )
        with self._lock:
            self._ephemerals.append(eph)
            snapshot = copy.deepcopy(eph)
        self.emit({"type": "ephemeral", "channel": ch.id, "user": user, "ephemeral": _event_view(snapshot)})
        return snapshot

    def replace_ephemeral(
        self, response_url_id: str, text: str, blocks: Any, delete: bool
    ) -> Ephemeral | None:
        """``replace_original``/``delete_original`` on the latest ephemeral of a response_url."""
        with self._lock:
            for eph in reversed(self._ephemerals):
                if eph.response_url_id == response_url_id:
                    if delete:
                        self._ephemerals.remove(eph)
                    else:
                        eph.edits.append(MessageVersion(eph.text, eph.blocks, self.clock()))
                        eph.text, eph.blocks = text, parse_blocks(blocks)
                    snapshot = copy.deepcopy(eph)
                    break
            else:
                return None
        self.emit(
            {
                "type": "ephemeral_deleted" if delete else "ephemeral_changed",
                "ephemeral": _event_view(snapshot),
            }
        )
        return snapshot

    def schedule_message(
        self, channel: str | None, text: str | None, post_at: Any, blocks: Any = None
    ) -> dict[str, Any]:
        """chat.scheduleMessage: stored only (the fake never delivers it)."""
        ch = self.writable_channel(channel)
        try:
            when = int(float(post_at))
        except (TypeError, ValueError):
            raise ApiError("invalid_time") from None
        if when < self.clock():
            raise ApiError("time_in_past")
        if when > self.clock() + 120 * 24 * 3600:
            raise ApiError("time_too_far")
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        parsed = parse_blocks(blocks)
        validate_blocks(parsed)
        item = {
            "scheduled_message_id": self.new_id("Q"),
            "channel": ch.id,
            "post_at": when,
            "text": text or "",
            "blocks": parsed,
        }
        with self._lock:
            self._scheduled.append(item)
        self.emit({"type": "scheduled", **item})
        return item

    # -------------------------------------------------------------------- files

    def start_upload(self, filename: str | None, length: Any) -> tuple[StoredFile, str]:
        """files.getUploadURLExternal: reserve a file id and a one-off upload token."""
        if not filename:
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: filename"]},
            )
        try:
            size = int(length)
        except (TypeError, ValueError):
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: length"]},
            ) from None
        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        f = StoredFile(id=self.new_id("F"), name=filename, length=size, mimetype=mimetype)
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._files[f.id] = f
            self._upload_tokens[token] = f.id
        return f, token

    def receive_upload(self, token: str, data: bytes) -> StoredFile | None:
        with self._lock:
            file_id = self._upload_tokens.pop(token, None)
            if file_id is None:
                return None
            self._files[file_id].data = data
            return copy.deepcopy(self._files[file_id])

    def complete_upload(
        self,
        files: Any,
        channel_id: str | None,
        thread_ts: str | None,
        initial_comment: str | None,
    ) -> list[StoredFile]:
        """files.completeUploadExternal: share uploaded files as one message."""
        try:
            items = json.loads(files) if isinstance(files, str) else files
            ids = [(i["id"], i.get("title")) for i in items]
        except (TypeError, ValueError, KeyError):
            raise ApiError("invalid_arguments") from None
        if channel_id:
            self.writable_channel(channel_id)
        with self._lock:
            done: list[StoredFile] = []
            for file_id, title in ids:
                f = self._files.get(file_id)
                if f is None or f.data is None or f.completed:
                    raise ApiError("file_not_found")
                f.title = title or f.name
                f.channel, f.thread_ts, f.completed = channel_id or None, thread_ts or None, True
                done.append(f)
            snapshot = copy.deepcopy(done)
        if channel_id:
            self.post_message(
                channel_id, initial_comment or "", None, thread_ts, subtype="file_share", files=snapshot
            )
        else:
            self.emit({"type": "file", "files": [f.id for f in snapshot]})
        return snapshot

    # ---------------------------------------------------------- response_urls

    def mint_response_url(self, channel: str, user: str, message_ts: str | None = None) -> ResponseUrl:
        ru = ResponseUrl(secrets.token_urlsafe(16), channel, user, self.clock(), message_ts=message_ts)
        with self._lock:
            self.response_urls[ru.id] = ru
        return ru

    def use_response_url(self, url_id: str) -> ResponseUrl:
        """Count one use; raise ``used_url`` after 5 uses, ``expired_url`` after 30 min."""
        with self._lock:
            ru = self.response_urls.get(url_id)
            if ru is None:
                raise ApiError("invalid_url")
            if self.clock() - ru.created > RESPONSE_URL_TTL_SECONDS:
                raise ApiError("expired_url")
            if ru.uses >= RESPONSE_URL_MAX_USES:
                raise ApiError("used_url")
            ru.uses += 1
            return copy.deepcopy(ru)

    # ------------------------------------------------------ faults & requests

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (method, "*") and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
        return None

    def record(
        self,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str],
        status: int,
        response: Any,
        peer: str = "",
    ) -> None:
        rec = RecordedRequest(method, params, headers, status, response, self.clock(), peer)
        with self._lock:
            self._requests.append(rec)
        self.emit({"type": "request", "method": method, "status": status})

    # ------------------------------------------------------------------ reading

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of ``channel`` (including broadcast thread replies)."""
        with self._lock:
            return copy.deepcopy(
                [m for m in self._messages.get(channel, []) if not m.thread_ts or m.reply_broadcast]
            )

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies to the parent ``ts`` (not the parent itself), oldest first."""
        with self._lock:
            return copy.deepcopy([m for m in self._messages.get(channel, []) if m.thread_ts == ts])

    def all_messages(self) -> dict[str, list[Message]]:
        with self._lock:
            return copy.deepcopy(self._messages)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        with self._lock:
            return copy.deepcopy(
                [
                    e
                    for e in self._ephemerals
                    if (user is None or e.user == user) and (channel is None or e.channel == channel)
                ]
            )

    def files(self) -> list[StoredFile]:
        with self._lock:
            return copy.deepcopy(list(self._files.values()))

    def scheduled(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._scheduled)

    def requests(self, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return copy.deepcopy([r for r in self._requests if method is None or r.method == method])

    def dump(self, last_requests: int = 20) -> str:
        """Human-readable state for assertion messages."""
        lines: list[str] = []
        with self._lock:
            for ch, msgs in self._messages.items():
                lines.append(f"channel {ch}:")
                for m in msgs:
                    where = f" (thread {m.thread_ts})" if m.thread_ts else ""
                    extra = f" files={[f.name for f in m.files]}" if m.files else ""
                    extra += f" edits={len(m.edits)}" if m.edits else ""
                    lines.append(f"  {m.ts}{where} {m.user}: {_short(m.text)}{extra}")
            lines.append("ephemerals:")
            lines.extend(
                f"  {e.ts} {e.channel}/{e.user} [{e.source}]: {_short(e.text)}" for e in self._ephemerals
            )
            lines.append(f"requests (last {last_requests} of {len(self._requests)}):")
            lines.extend(
                f"  {r.method} -> {r.status} {_short(json.dumps(r.response, default=str))}"
                for r in self._requests[-last_requests:]
            )
        return "\n".join(lines)


def _short(text: str, limit: int = 120) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message_snapshot(msg: Message) -> Message:
    """A copy of a stored message that later changes to it do not reach. Its blocks are shared:
    the workspace replaces a message's blocks, never edits them, and copying Block Kit on every
    snapshot would cost the fake more than the bot it serves."""
    return replace(msg, files=copy.deepcopy(msg.files), edits=list(msg.edits))


def _copy_event(event: dict[str, Any]) -> dict[str, Any]:
    """A listener's own copy of an event: events are JSON (the sandbox page streams them), and a
    JSON round trip copies them several times faster than ``copy.deepcopy``."""
    try:
        return json.loads(json.dumps(event))
    except (TypeError, ValueError):
        return copy.deepcopy(event)


def _event_view(obj: Any) -> dict[str, Any]:
    """JSON-friendly view of a stored object for listeners (file bytes omitted). Shallow: `emit`
    copies the whole event for each listener."""
    data = _fields_of(obj)
    if data.get("files"):
        data["files"] = [{k: v for k, v in _fields_of(f).items() if k != "data"} for f in data["files"]]
    if data.get("edits"):
        data["edits"] = [_fields_of(e) for e in data["edits"]]
    return data


def _fields_of(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (not copied)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
