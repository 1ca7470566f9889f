"""Modals and Home tabs in the fake Slack: trigger ids, view stacks, and Slack's rules for both.

Kept apart from ``state`` (messages, files) because views follow rules of their own: a
``trigger_id`` opens one modal within 3 s, a user holds one stack of at most 3 modals, a view's
``hash`` guards against updating a view that changed meanwhile, and a view has limits of its own
(SLACK.md §8.1: docs.slack.dev/reference/views/modal-views, home-tab-views, and
``slack_sdk/models/views/__init__.py``). ``web_api`` serves the ``views.*`` methods from here;
``delivery`` mints trigger ids here and applies a ``view_submission``'s ack here.

Thread-safe like the workspace: every method takes the lock, and readers return copies.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.state import APP_ID, BOT_ID, TEAM_ID, ApiError, Workspace, parse_blocks, validate_blocks

TRIGGER_TTL_SECONDS = 3.0  # api.slack.com/docs/triggers: a trigger_id expires after 3 s, works once
MAX_STACK = 3  # views.push: push_limit_reached "Currently the limit is 3" (root + two pushes)
MAX_VIEW_BLOCKS = 100
MAX_TITLE = 24  # title, close and submit
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_EXTERNAL_ID = 255
MAX_VIEW_BYTES = 250_000  # views over 250 kB: view_too_large


@dataclass
class Trigger:
    """A minted trigger_id: whose it is, when it was minted (workspace clock), whether used."""

    user: str
    minted: float
    used: bool = False


@dataclass
class StoredView:
    """A view as Slack keeps it: ``view`` is the dict Slack answers, ``errors`` the last
    ``response_action: errors`` map shown on it."""

    user: str
    view: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


class Views:
    """Trigger ids, each user's modal stack and Home view, on the workspace's clock; forgotten
    when the workspace is reset."""

    def __init__(self, workspace: Workspace) -> None:
        self.clock: Callable[[], float] = workspace.clock
        self.new_id = workspace.new_id
        self._emit = workspace.emit
        self._lock = threading.RLock()
        self.reset()
        workspace.subscribe(lambda event: self.reset() if event.get("type") == "reset" else None)

    def _changed(self, user: str) -> None:
        """Tell the workspace's listeners (the sandbox page) that ``user``'s modals or Home view
        changed. Called outside the lock, as ``Workspace.emit`` asks."""
        self._emit({"type": "view", "user": user})

    def reset(self) -> None:
        with self._lock:
            # The manifest's features.app_home.home_tab_enabled; off, views.publish is not_enabled.
            self.home_tab_enabled = True
            self._triggers: dict[str, Trigger] = {}
            self._stacks: dict[str, list[StoredView]] = {}
            self._homes: dict[str, StoredView] = {}

    # ------------------------------------------------------------- triggers

    def mint_trigger(self, user: str) -> str:
        """A new trigger_id for an interaction by ``user`` (a command, click, shortcut, submission)."""
        trigger_id = f"{secrets.randbelow(9 * 10**12) + 10**12}.{secrets.randbelow(9 * 10**11) + 10**11}.{secrets.token_hex(16)}"
        self.remember_trigger(trigger_id, user)
        return trigger_id

    def remember_trigger(self, trigger_id: str, user: str) -> None:
        """Record a trigger_id a test chose itself (a known one keeps its first record)."""
        with self._lock:
            self._triggers.setdefault(trigger_id, Trigger(user, self.clock()))

    def _exchange(self, trigger_id: Any) -> str:
        """Use a trigger_id once; its user, or Slack's error for an unknown, used or old one."""
        with self._lock:
            trigger = self._triggers.get(str(trigger_id or ""))
            if trigger is None:
                raise ApiError("invalid_trigger_id")
            if trigger.used:
                raise ApiError("exchanged_trigger_id")
            if self.clock() - trigger.minted > TRIGGER_TTL_SECONDS:
                raise ApiError("expired_trigger_id")
            trigger.used = True
            return trigger.user

    # ----------------------------------------------------------- views.* API

    def open(self, trigger_id: Any, view: Any) -> dict[str, Any]:
        """views.open: a new stack for the trigger's user, with this modal as its root."""
        parsed = _checked_view(view, home=False)
        user = self._exchange(trigger_id)
        with self._lock:
            stored = self._new_view(user, parsed, root=None, previous=None)
            self._stacks[user] = [stored]
            opened = copy.deepcopy(stored.view)
        self._changed(user)
        return opened

    def push(self, trigger_id: Any, view: Any) -> dict[str, Any]:
        """views.push: onto the trigger's user's stack, which holds at most ``MAX_STACK`` views."""
        parsed = _checked_view(view, home=False)
        with self._lock:
            trigger = self._triggers.get(str(trigger_id or ""))
            stack = self._stacks.get(trigger.user, []) if trigger else []
            if len(stack) >= MAX_STACK:
                raise ApiError("push_limit_reached")
            user = self._exchange(trigger_id)
            pushed = copy.deepcopy(self._push(user, parsed).view)
        self._changed(user)
        return pushed

    def _push(self, user: str, parsed: dict[str, Any]) -> StoredView:
        stack = self._stacks.setdefault(user, [])
        if len(stack) >= MAX_STACK:
            raise ApiError("push_limit_reached")
        root = stack[0].view["id"] if stack else None
        previous = stack[-1].view["id"] if stack else None
        stored = self._new_view(user, parsed, root=root, previous=previous)
        stack.append(stored)
        return stored

    def update(self, view_id: Any, external_id: Any, hash_: Any, view: Any) -> dict[str, Any]:
        """views.update: replace a modal or Home view found by ``view_id`` or ``external_id``."""
        if not view_id and not external_id:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing view_id"]})
        with self._lock:
            stored = self._find(str(view_id or ""), str(external_id or ""))
            if stored is None:
                raise ApiError("not_found")
            parsed = _checked_view(view, home=stored.view["type"] == "home")
            if hash_ and hash_ != stored.view["hash"]:
                raise ApiError("hash_conflict")
            self._replace(stored, parsed)
            updated, user = copy.deepcopy(stored.view), stored.user
        self._changed(user)
        return updated

    def publish(self, user_id: Any, hash_: Any, view: Any) -> dict[str, Any]:
        """views.publish: the user's Home tab view (``hash`` must match the current one if given)."""
        if not user_id:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing user_id"]})
        if not self.home_tab_enabled:
            raise ApiError("not_enabled")
        parsed = _checked_view(view, home=True)
        user = str(user_id)
        with self._lock:
            current = self._homes.get(user)
            if hash_ and (current is None or hash_ != current.view["hash"]):
                raise ApiError("hash_conflict")
            if current is None:
                current = self._homes[user] = self._new_view(user, parsed, root=None, previous=None)
            else:
                self._replace(current, parsed)
            published = copy.deepcopy(current.view)
        self._changed(user)
        return published

    # ------------------------------------------------------- reading & acks

    def stack(self, user: str) -> list[dict[str, Any]]:
        """The user's open modals, root first, each with its ``errors``."""
        with self._lock:
            return [{**copy.deepcopy(s.view), "errors": dict(s.errors)} for s in self._stacks.get(user, [])]

    def home(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._homes.get(user)
            return copy.deepcopy(stored.view) if stored else None

    def find(self, view_id: str) -> tuple[str, dict[str, Any]] | None:
        """The user and a copy of the modal or Home view with this id."""
        with self._lock:
            stored = self._find(view_id, "")
            return (stored.user, copy.deepcopy(stored.view)) if stored else None

    def set_values(self, view_id: str, values: dict[str, Any]) -> None:
        """What the user has entered in the view's inputs (``state.values``)."""
        with self._lock:
            stored = self._find(view_id, "")
            if stored is not None:
                stored.view["state"] = {"values": copy.deepcopy(values)}

    def set_errors(self, view_id: str, errors: dict[str, str]) -> None:
        with self._lock:
            stored = self._find(view_id, "")
            if stored is None:
                return
            stored.errors = dict(errors)
        self._changed(stored.user)

    def apply_submission_ack(self, view_id: str, ack: Any) -> None:
        """What Slack does with a view_submission's ack (SLACK.md §8.2): an empty ack closes the
        view (and any pushed above it); ``errors`` shows them on the view; ``update`` replaces it;
        ``push`` pushes; ``clear`` closes the whole stack. An ack Slack would refuse (a bad view,
        a fourth view) leaves the stack as it was, with ``{"": <error>}`` as the view's errors."""
        with self._lock:
            stored = self._find(view_id, "")
            if stored is None or stored.view["type"] == "home":
                return
            stack = self._stacks.get(stored.user, [])
            body = ack if isinstance(ack, dict) else {}
            action = body.get("response_action")
            try:
                if action == "errors":
                    errors = body.get("errors")
                    if not isinstance(errors, dict) or not errors:
                        raise ApiError("invalid_arguments")
                    # keyed by the block_id of an input block of the view (SLACK.md §8.2); Slack
                    # refuses a map naming any other block
                    inputs = {b.get("block_id") for b in stored.view["blocks"] if b.get("type") == "input"}
                    if not set(errors) <= inputs:
                        raise ApiError("invalid_arguments")
                    stored.errors = {str(k): str(v) for k, v in errors.items()}
                elif action == "update":
                    self._replace(stored, _checked_view(body.get("view"), home=False))
                    stored.errors = {}
                elif action == "push":
                    parsed = _checked_view(body.get("view"), home=False)
                    stored.errors = {}
                    self._push(stored.user, parsed)
                elif action == "clear":
                    self._stacks.pop(stored.user, None)
                else:
                    del stack[stack.index(stored) :]
                    if not stack:
                        self._stacks.pop(stored.user, None)
            except ApiError as e:
                stored.errors = {"": e.error}
        self._changed(stored.user)

    def close(self, view_id: str) -> list[dict[str, Any]]:
        """The user closes the modal (its X, or Cancel): it and every view above it go. Returns the
        views closed, topmost first, for ``view_closed``."""
        with self._lock:
            stored = self._find(view_id, "")
            if stored is None or stored.view["type"] == "home":
                raise ValueError(f"no open modal {view_id!r}")
            stack = self._stacks.get(stored.user, [])
            closed = stack[stack.index(stored) :]
            del stack[stack.index(stored) :]
            if not stack:
                self._stacks.pop(stored.user, None)
            gone = [copy.deepcopy(s.view) for s in reversed(closed)]
        self._changed(stored.user)
        return gone

    def dump(self) -> str:
        """Open modals and Home views, one line each, for assertion messages."""
        with self._lock:
            lines = ["views:"]
            for user, stack in self._stacks.items():
                for s in stack:
                    title = (s.view.get("title") or {}).get("text", "")
                    errors = f" errors={s.errors}" if s.errors else ""
                    lines.append(f"  modal {s.view['id']} {user} {s.view['callback_id']!r} {title!r}{errors}")
            for user, home in self._homes.items():
                lines.append(f"  home {home.view['id']} {user} ({len(home.view['blocks'])} blocks)")
            return "\n".join(lines)

    # -------------------------------------------------------------- helpers

    def _find(self, view_id: str, external_id: str) -> StoredView | None:
        candidates = [s for stack in self._stacks.values() for s in stack] + list(self._homes.values())
        for stored in candidates:
            if (view_id and stored.view["id"] == view_id) or (
                external_id and stored.view.get("external_id") == external_id
            ):
                return stored
        return None

    def _new_view(
        self, user: str, parsed: dict[str, Any], *, root: str | None, previous: str | None
    ) -> StoredView:
        view_id = self.new_id("V")
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
            "root_view_id": root or view_id,
            "previous_view_id": previous,
            "state": {"values": {}},
        }
        stored = StoredView(user, view)
        self._replace(stored, parsed)
        return stored

    def _replace(self, stored: StoredView, parsed: dict[str, Any]) -> None:
        """Take the new view's fields, keep its id, stack links and what was typed into inputs
        whose block still exists, and give it a new hash."""
        kept = {
            k: stored.view[k]
            for k in ("id", "team_id", "app_id", "app_installed_team_id", "bot_id", "root_view_id")
        }
        kept["previous_view_id"] = stored.view.get("previous_view_id")
        block_ids = {b.get("block_id") for b in parsed.get("blocks") or []}
        values = (stored.view.get("state") or {}).get("values") or {}
        stored.view = {
            "type": parsed["type"],
            "blocks": parsed.get("blocks") or [],
            "private_metadata": parsed.get("private_metadata", ""),
            "callback_id": parsed.get("callback_id", ""),
            # kept unless the new view names another: it is how views.update finds the view again
            "external_id": parsed.get("external_id") or stored.view.get("external_id", ""),
            "title": parsed.get("title"),
            "close": parsed.get("close"),
            "submit": parsed.get("submit"),
            "clear_on_close": bool(parsed.get("clear_on_close", False)),
            "notify_on_close": bool(parsed.get("notify_on_close", False)),
            **kept,
            "state": {"values": {k: v for k, v in values.items() if k in block_ids}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
        }


def _checked_view(raw: Any, *, home: bool) -> dict[str, Any]:
    """The view argument parsed and held to Slack's limits, else ``invalid_arguments`` with
    Slack-style messages (or ``view_too_large``)."""
    view = _parsed_view(raw)
    problems = [
        *_surface_problems(view, home),
        *_string_problems(view),
    ]
    try:
        blocks = parse_blocks(view.get("blocks"))
    except ApiError:
        blocks = None
        problems.append(_problem("blocks must be a list of objects", "/blocks"))
    if blocks is None and not problems:
        problems.append(_problem("missing required field: blocks", "/blocks"))
    problems.extend(_block_problems(view, blocks or []))
    if problems:
        raise ApiError("invalid_arguments", response_metadata={"messages": problems})
    return {**view, "blocks": blocks or []}


def _problem(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:/view{pointer}]"


def _parsed_view(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        if len(raw.encode()) > MAX_VIEW_BYTES:
            raise ApiError("view_too_large")
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] view is not JSON"]}
            ) from None
    if not isinstance(raw, dict):
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]}
        )
    if len(json.dumps(raw).encode()) > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    return raw


def _surface_problems(view: dict[str, Any], home: bool) -> list[str]:
    """type, and title / close / submit: plain_text of at most 24 characters; none but a title
    on a Home view; a title required on a modal."""
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append(_problem("must be one of modal, home", "/type"))
    elif (kind == "home") != home:
        problems.append(_problem(f"must be {'home' if home else 'modal'} for this method", "/type"))
    for key in ("title", "close", "submit"):
        obj = view.get(key)
        if obj is None:
            if key == "title" and kind == "modal":
                problems.append(_problem("missing required field: title", "/title"))
            continue
        if kind == "home" and key != "title":
            problems.append(_problem(f"a Home tab view cannot have {key}", f"/{key}"))
            continue
        text = obj.get("text") if isinstance(obj, dict) else None
        if not isinstance(text, str) or obj.get("type") != "plain_text":
            problems.append(_problem("must be a plain_text object", f"/{key}"))
        elif len(text) > MAX_TITLE:
            problems.append(_problem(f"must be less than {MAX_TITLE + 1} characters", f"/{key}/text"))
    return problems


def _string_problems(view: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_CALLBACK_ID),
        ("external_id", MAX_EXTERNAL_ID),
    ):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            problems.append(_problem(f"must be a string of at most {limit} characters", f"/{key}"))
    return problems


def _block_problems(view: dict[str, Any], blocks: list[dict[str, Any]]) -> list[str]:
    """The message block rules with a view's limit of 100 blocks, and a modal with an input
    block needs a submit button."""
    problems: list[str] = []
    try:
        validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS)
    except ApiError as e:
        problems.extend(
            m.replace("json-pointer:/blocks", "json-pointer:/view/blocks")
            for m in e.extra.get("response_metadata", {}).get("messages", [])
        )
    has_input = any(b.get("type") == "input" for b in blocks)
    if view.get("type") == "modal" and view.get("submit") is None and has_input:
        problems.append(_problem("submit is required when a modal has an input block", "/submit"))
    return problems
