"""Slack's events about channels and the app, as Bolt listeners: schedules follow them.

| event                          | when it counts                 | what pauses             | who is told        |
| ------------------------------ | ------------------------------ | ----------------------- | ------------------ |
| `channel_archive`              | always                         | the channel's schedules | each creator (DM)  |
| `group_archive`                | always (a private channel)     | the channel's schedules | each creator (DM)  |
| `channel_left`                 | always (sent to the bot)       | the channel's schedules | each creator (DM)  |
| `member_left_channel`          | the member is the bot itself   | the channel's schedules | each creator (DM)  |
| `app_uninstalled`              | always                         | every schedule          | the log (no token) |
| `tokens_revoked`               | bot tokens among those revoked | every schedule          | the log (no token) |

Pausing, the reason it is stored with and the DM are `tasks.schedules.self_pause`'s, the same
the worker uses when a post is refused for good. Schedules keep their channel's id, so a renamed
channel changes nothing and needs no listener.

Bolt acks an event listener's request when the listener returns (`process_before_response`),
so each listener hands its work (the store, the DMs) to `AfterAck` and returns at once: Slack
retries an event not acked within 3 s.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.after_ack import AfterAck
from bot.slack_payload import string_at
from tasks.schedules.self_pause import (
    BOT_REMOVED_REASON,
    CHANNEL_ARCHIVED_REASON,
    TOKEN_REVOKED_REASON,
    UNINSTALLED_REASON,
    SelfPause,
)
from tasks.slack.ids import valid_channel_id

log = logging.getLogger(__name__)


def register_channel_events(app: App, self_pause: SelfPause, after_ack: AfterAck) -> None:
    """Add the channel and app event listeners to `app`; their work runs on `after_ack`."""

    def pause_channel(event: dict[str, Any], reason: str, what: str) -> None:
        channel = valid_channel_id(string_at(event, "channel"))
        if not channel:
            log.info("%s without a channel id; ignored", what)
            return

        def work() -> None:
            paused = self_pause.pause_channel(channel, reason)
            log.info("%s %s: %d schedule(s) paused", what, channel, len(paused))  # Homes: marked stale

        after_ack.run(work, what)

    def pause_all(reason: str, what: str) -> None:
        def work() -> None:
            paused = self_pause.pause_all(reason)
            log.warning("%s: %d schedule(s) paused", what, len(paused))

        after_ack.run(work, what)

    @app.event("channel_archive")
    def on_channel_archive(event: dict[str, Any]) -> None:
        pause_channel(event, CHANNEL_ARCHIVED_REASON, "channel_archive")

    @app.event("group_archive")
    def on_group_archive(event: dict[str, Any]) -> None:
        pause_channel(event, CHANNEL_ARCHIVED_REASON, "group_archive")

    @app.event("channel_left")
    def on_channel_left(event: dict[str, Any]) -> None:
        pause_channel(event, BOT_REMOVED_REASON, "channel_left")

    @app.event("member_left_channel")
    def on_member_left(event: dict[str, Any], context: BoltContext) -> None:
        # Sent for anyone leaving a channel the bot is in; only the bot's own leaving matters.
        # Bolt knows the bot's user id from its auth.test.
        bot_user = context.bot_user_id or ""
        if bot_user and string_at(event, "user") == bot_user:
            pause_channel(event, BOT_REMOVED_REASON, "member_left_channel")

    @app.event("app_uninstalled")
    def on_uninstalled(event: dict[str, Any]) -> None:
        pause_all(UNINSTALLED_REASON, "app_uninstalled")

    @app.event("tokens_revoked")
    def on_tokens_revoked(event: dict[str, Any]) -> None:
        bots = (event.get("tokens") or {}).get("bot") if isinstance(event.get("tokens"), dict) else None
        if bots:  # a user's token revoked leaves the bot's working
            pause_all(TOKEN_REVOKED_REASON, "tokens_revoked")
