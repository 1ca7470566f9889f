"""Slack calling the bot: slash commands and interactions, delivered as Slack delivers them.

In HTTP mode a delivery is the form POST Slack signs with the app's signing secret, sent to the
bot's request URL (``bot_url``); in Socket Mode it is an envelope on a connected client's
WebSocket. Either way the ack is timed against Slack's 3 s budget, and what Slack would show
the person who typed the command (the ack's message, or the delivery error) is stored in the
workspace, as the page shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.socket_mode import SocketMode
from sandbox.state import APP_ID, TEAM_DOMAIN, TEAM_ID, ApiError, Workspace
from sandbox.views import Views

#: How long the page holds a command while the bot is still starting (`Delivery.hold`).
BOT_START_SECONDS = 30.0
ACK_TIMEOUT_SECONDS = 3.0  # Slack waits 3000 ms for the ack (api.slack.com/interactivity/slash-commands)


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


class Delivery:
    """Delivers to the bot at ``bot_url`` (HTTP mode) or over ``sockets`` (Socket Mode).

    ``base_url`` is the server's address once it is bound: the ``response_url`` each delivery
    carries points there.
    """

    def __init__(
        self,
        workspace: Workspace,
        views: Views,
        sockets: SocketMode,
        base_url: Callable[[], str],
        signing_secret: str,
        bot_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.views = views  # mints the trigger_id each delivery carries
        self.sockets = sockets
        self.base_url = base_url
        self.signing_secret = signing_secret
        self.bot_url = bot_url
        self.clock = clock
        self._bot_ready = threading.Event()
        self._bot_ready.set()

    def hold(self) -> None:
        """Hold what the page sends until `release`: the page answers before the bot it talks to
        is listening, and a command typed then must wait for it, not fail."""
        self._bot_ready.clear()

    def release(self) -> None:
        self._bot_ready.set()

    def page_mode(self) -> str:
        """How the page reaches the bot once it is ready: HTTP to ``bot_url``, else Socket Mode.
        Blocks while held, so call it off the event loop."""
        self._bot_ready.wait(BOT_START_SECONDS)
        return "http" if self.bot_url else "socket"

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
            "response_url": f"{self.base_url()}response/{ru.id}",
            "trigger_id": self.views.mint_trigger(u.id),
        }

        def record(resp: CommandResponse) -> None:
            self._record_ack(resp, command, text, ch.id, u.id, ru.id)

        return self.deliver(
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
        if "trigger_id" in p:  # a test's own trigger_id works like a minted one
            self.views.remember_trigger(str(p["trigger_id"]), u.id)
        else:
            p["trigger_id"] = self.views.mint_trigger(u.id)
        p.setdefault("is_enterprise_install", False)
        message_ts = (p.get("message") or {}).get("ts") or (p.get("container") or {}).get("message_ts")
        if "response_url" not in p:
            ru = self.workspace.mint_response_url(ch.id, u.id, message_ts=message_ts)
            p["response_url"] = f"{self.base_url()}response/{ru.id}"
        form = {"payload": json.dumps(p)}
        return self.deliver(
            form, "interactive", False, mode, timestamp, secret, headers, timeout, socket_payload=p
        )

    def deliver(
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
        json_body: bool = False,
        retry: tuple[int, str] | None = None,
    ) -> CommandResponse:
        """Send one request Slack -> bot and time the ack; ``record`` shows the result to the user.

        ``json_body`` sends ``socket_payload`` as a JSON body (an event) rather than ``form``;
        ``retry`` = (attempt, reason) marks a redelivery (``X-Slack-Retry-*`` / envelope fields).

        A Socket Mode ack is recorded the moment it arrives; a failed delivery and an HTTP ack,
        once the delivery is over.
        """
        record = record or (lambda resp: None)
        if mode == "socket":
            envelope: dict[str, Any] = {
                "envelope_id": secrets.token_hex(16),
                "type": envelope_type,
                "payload": socket_payload if socket_payload is not None else form,
                "accepts_response_payload": accepts_response_payload,
            }
            if retry is not None:
                envelope.update(retry_attempt=retry[0], retry_reason=retry[1])
            resp = self._over_socket(envelope, timeout, record)
            if resp.error:
                record(resp)
            return resp
        if mode != "http":
            raise ValueError(f"mode must be 'http' or 'socket', not {mode!r}")
        if json_body:
            raw, content_type = json.dumps(socket_payload).encode(), "application/json"
        else:
            raw, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        if retry is not None:
            headers = {
                "X-Slack-Retry-Num": str(retry[0]),
                "X-Slack-Retry-Reason": retry[1],
                **(headers or {}),
            }
        resp = self._over_http(raw, content_type, timestamp, secret, headers, timeout)
        record(resp)
        return resp

    def _over_socket(
        self, envelope: dict[str, Any], timeout: float, record: Callable[[CommandResponse], None]
    ) -> CommandResponse:
        started = time.monotonic()

        def response(ack: dict[str, Any]) -> CommandResponse:
            body = ack.get("payload")
            return CommandResponse(200, body if body not in ({}, "") else None, time.monotonic() - started)

        ack = self.sockets.send(envelope, timeout, lambda frame: record(response(frame)))
        elapsed = time.monotonic() - started
        if ack is None:
            return CommandResponse(0, None, elapsed, "dispatch_failed")
        if not ack:
            return CommandResponse(0, None, elapsed, "operation_timeout")
        return response(ack)

    def _over_http(
        self,
        raw: bytes,
        content_type: str,
        timestamp: int | str | None,
        secret: str | None,
        headers: dict[str, str | None] | None,
        timeout: float,
    ) -> CommandResponse:
        """POST the signed body to ``bot_url``, as Slack does in HTTP mode."""
        started = time.monotonic()
        if not self.bot_url:
            raise RuntimeError("set FakeSlack.bot_url before sending HTTP-mode requests")
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        all_headers: dict[str, str | None] = {
            "Content-Type": content_type,
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
            return CommandResponse(
                e.code,
                data.decode(errors="replace") or None,
                time.monotonic() - started,
                "http_client_error" if e.code < 500 else "http_service_error",
            )
        except TimeoutError:
            return CommandResponse(0, None, time.monotonic() - started, "operation_timeout")
        except urllib.error.URLError as e:
            is_timeout = isinstance(e.reason, (TimeoutError, socket.timeout))
            return CommandResponse(
                0,
                None,
                time.monotonic() - started,
                "operation_timeout" if is_timeout else "dispatch_failed",
            )
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            return CommandResponse(status, None, elapsed, "operation_timeout")
        return CommandResponse(status, _parse_ack_body(ctype, data), elapsed)

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


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """Slack's v0 signature: ``v0=`` + HMAC-SHA256(secret, ``v0:{ts}:{body}``)
    (api.slack.com/authentication/verifying-requests-from-slack)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


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
