"""Slack calling the bot from modals, the Home tab, shortcuts and the Events API.

Built on ``Delivery`` (signing, HTTP or Socket Mode, ack timing), as Slack sends each of these:
a ``view_submission`` or a ``block_actions`` from a view or a global ``shortcut`` is an
interaction (form ``payload=``, or an ``interactive`` envelope); an event is an ``event_callback``
JSON body (or an ``events_api`` envelope). Shapes: SLACK.md §8.2 and §8.4 (bolt-js
``src/types/view/index.ts``, docs.slack.dev/reference/objects/event-object).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from sandbox.delivery import ACK_TIMEOUT_SECONDS, CommandResponse, Delivery
from sandbox.state import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID


class ViewDelivery:
    """Submissions, clicks in views, shortcuts and events, delivered through ``delivery``."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.workspace = delivery.workspace
        self.views = delivery.views

    def default_mode(self) -> str:
        """HTTP when the bot has a request URL, else Socket Mode: for helpers whose tests may
        run either bot."""
        return "http" if self.delivery.bot_url else "socket"

    # ---------------------------------------------------------- interactions

    def _interactive(self, payload: dict[str, Any], mode: str, timeout: float) -> CommandResponse:
        form = {"payload": json.dumps(payload)}
        return self.delivery.deliver(
            form, "interactive", False, mode, None, None, None, timeout, socket_payload=payload
        )

    def _user(self, user: str) -> dict[str, Any]:
        u = self.workspace.user(user)
        return {"id": u.id, "username": u.name, "name": u.name, "team_id": TEAM_ID}

    def _view_for(self, view_id: str) -> tuple[str, dict[str, Any]]:
        found = self.views.find(view_id)
        if found is None:
            raise ValueError(f"no open view {view_id!r} (open_views/home list what is open)")
        return found

    def submit_view(
        self,
        view_id: str,
        values: dict[str, Any],
        *,
        user: str = "U0ALICE",
        mode: str = "http",
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """The user presses Submit: a signed ``view_submission`` whose ``view.state.values`` is
        ``values``; the ack's ``response_action`` is then applied to the stack (``Views``)."""
        _, view = self._view_for(view_id)
        self.views.set_values(view_id, values)
        view["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": "fake-verification-token",
            "trigger_id": self.views.mint_trigger(user),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        resp = self._interactive(payload, mode, timeout)
        if resp.ok:
            self.views.apply_submission_ack(view_id, resp.body)
        else:  # Slack keeps the modal open and shows that it could not reach the app
            self.views.set_errors(view_id, {"": resp.error or f"http_{resp.status}"})
        return resp

    def close_view(
        self, view_id: str, *, user: str = "U0ALICE", mode: str | None = None
    ) -> CommandResponse | None:
        """The user closes the modal; ``view_closed`` goes to the bot only when the view asked
        for it (``notify_on_close``), with ``is_cleared`` when more than one view closed."""
        closed = self.views.close(view_id)
        view = closed[-1]
        if not view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": "fake-verification-token",
            "view": view,
            "is_cleared": len(closed) > 1,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload, mode or self.default_mode(), ACK_TIMEOUT_SECONDS)

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
        """A ``block_actions`` from inside a modal (a button, a select, a dispatch_action input).

        ``state`` is the action's own fields, e.g. ``{"type": "static_select", "selected_option":
        {...}}`` or ``{"type": "plain_text_input", "value": "x"}``; a plain string is the value of
        the element the view has under ``action_id`` (a button's value, an overflow's or a
        select's option). ``values`` (if given) becomes the view's current ``state.values``."""
        _, view = self._view_for(view_id)
        if values is not None:
            self.views.set_values(view_id, values)
            view["state"] = {"values": values}
        action = _action(view, block_id, action_id, state)
        return self._view_block_actions(view, action, user, mode or self.default_mode(), timeout)

    def home_action(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        mode: str | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """A click in ``user``'s Home tab on the element ``action_id`` (button, overflow, select)."""
        view = self.views.home(user)
        if view is None:
            raise ValueError(f"no Home view published for {user!r}")
        block_id = _block_of(view, action_id, value)
        action = _action(view, block_id, action_id, value)
        return self._view_block_actions(view, action, user, mode or self.default_mode(), timeout)

    def _view_block_actions(
        self, view: dict[str, Any], action: dict[str, Any], user: str, mode: str, timeout: float
    ) -> CommandResponse:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": "fake-verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self.views.mint_trigger(user),
            "view": view,
            "actions": [action],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload, mode, timeout)

    def send_shortcut(
        self,
        callback_id: str,
        *,
        user: str = "U0ALICE",
        mode: str = "http",
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """A global shortcut (no channel: Slack sends none with a global shortcut)."""
        payload = {
            "type": "shortcut",
            "token": "fake-verification-token",
            "action_ts": self.workspace.mint_ts(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.views.mint_trigger(user),
        }
        return self._interactive(payload, mode, timeout)

    # ---------------------------------------------------------------- events

    def send_event(
        self,
        event: dict[str, Any],
        *,
        mode: str = "http",
        retry: tuple[int, str] | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> CommandResponse:
        """An Events API ``event_callback`` wrapping ``event`` (``event_ts`` filled in if missing)."""
        event = {**event, "event_ts": event.get("event_ts") or self.workspace.mint_ts()}
        body = {
            "token": "fake-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(self.workspace.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(12),
        }
        return self.delivery.deliver(
            {},
            "events_api",
            False,
            mode,
            None,
            None,
            None,
            timeout,
            socket_payload=body,
            json_body=True,
            retry=retry,
        )

    def open_home(self, user: str, *, mode: str | None = None) -> CommandResponse:
        """``user`` opens the app's Home tab: ``app_home_opened`` (with the last Home view, if any)."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": _dm_channel(user),
            "tab": "home",
        }
        home = self.views.home(user)
        if home is not None:
            event["view"] = home
        return self.send_event(event, mode=mode or self.default_mode())

    def archive_channel(
        self, channel: str, *, user: str = "U0ALICE", mode: str | None = None
    ) -> CommandResponse:
        """``user`` archives ``channel``: posting to it fails with ``is_archived``; ``channel_archive`` is sent."""
        self.workspace.archive_channel(channel)
        return self.send_event(
            {"type": "channel_archive", "channel": channel, "user": user}, mode=mode or self.default_mode()
        )

    def remove_bot(self, channel: str, *, actor: str = "U0ALICE", mode: str | None = None) -> CommandResponse:
        """The bot is removed from ``channel``: posting fails with ``not_in_channel``; ``channel_left`` is sent."""
        self.workspace.remove_bot(channel)
        return self.send_event(
            {"type": "channel_left", "channel": channel, "actor_id": actor}, mode=mode or self.default_mode()
        )


def _dm_channel(user: str) -> str:
    """The app's DM channel id with ``user`` (stable per user)."""
    return "D" + user[1:] if len(user) > 1 else "D0"


def _elements(view: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every interactive element in the view."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        for element in [*(block.get("elements") or []), block.get("accessory"), block.get("element")]:
            if isinstance(element, dict) and element.get("action_id"):
                found.append((block_id, element))
    return found


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    groups = element.get("option_groups") or []
    return [*(element.get("options") or []), *[o for g in groups for o in g.get("options") or []]]


def _offers(element: dict[str, Any], value: str) -> bool:
    """Whether clicking ``element`` can send ``value`` (a button's value, one of its options)."""
    if element.get("type") == "button":
        return str(element.get("value", "")) == value
    return any(o.get("value") == value for o in _options(element))


def _element(
    view: dict[str, Any], block_id: str | None, action_id: str, value: str | None
) -> tuple[str, dict[str, Any]]:
    """The element a click on ``action_id`` (in ``block_id``, if given) comes from: among several
    with that action_id (one per row, say), the one that offers ``value``. A value no element
    offers is still sent, from the first one, as a tampered payload would be."""
    matches = [
        (b, e)
        for b, e in _elements(view)
        if e.get("action_id") == action_id and (block_id is None or b == block_id)
    ]
    if not matches:
        raise ValueError(f"the view has no element with action_id {action_id!r}")
    if value is not None:
        for b, e in matches:
            if _offers(e, value):
                return b, e
    return matches[0]


def _block_of(view: dict[str, Any], action_id: str, value: str) -> str:
    return _element(view, None, action_id, value)[0]


def _action(
    view: dict[str, Any], block_id: str, action_id: str, state: dict[str, Any] | str
) -> dict[str, Any]:
    """The ``actions[0]`` Slack sends for a click on ``action_id``."""
    base = {
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**6):06d}",
    }
    if isinstance(state, dict):
        return {**base, **state}
    try:
        element: dict[str, Any] = _element(view, block_id, action_id, state)[1]
    except ValueError:
        element = {}
    kind = str(element.get("type") or "button")
    if kind == "button":
        return {**base, "type": "button", "value": state, "text": element.get("text")}
    if kind in ("overflow", "static_select", "radio_buttons"):
        option = next(
            (o for o in _options(element) if o.get("value") == state),
            {"text": {"type": "plain_text", "text": state}, "value": state},
        )
        return {**base, "type": kind, "selected_option": option}
    if kind == "datepicker":
        return {**base, "type": kind, "selected_date": state}
    if kind in ("users_select", "conversations_select", "channels_select"):
        key = {
            "users_select": "selected_user",
            "conversations_select": "selected_conversation",
            "channels_select": "selected_channel",
        }[kind]
        return {**base, "type": kind, key: state}
    return {**base, "type": kind, "value": state}
