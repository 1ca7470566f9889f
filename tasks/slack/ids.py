"""Slack's id shapes: the one check before an id goes into a job or into mrkdwn.

Slack reads `<@…>` and `<#…>` as mentions, so an id that is not an id (`U1> <!channel`) would
close the mention and open a broadcast. Slack mints ids as a type letter followed by uppercase
letters and digits (users `U…`/`W…`, channels `C…`/`G…`/`D…`, workspaces `T…`, Grid
organisations `E…`); they have grown from 9 to 11 characters, so the length is only bounded.
The bot checks the ids of every request against these shapes, and everything that renders one
renders it through `user_mention` and `channel_mention`, which never emit anything else.

>>> user_mention("U0ALICE"), user_mention("U1> <!channel")
('<@U0ALICE>', 'someone')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasks.errors import UserError

__all__ = [
    "BadRequest",
    "Requester",
    "channel_mention",
    "is_channel_id",
    "is_team_id",
    "is_user_id",
    "requester",
    "user_mention",
    "valid_channel_id",
    "valid_user_id",
]

_USER = re.compile(r"[UW][A-Z0-9]{1,31}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{1,31}")
_TEAM = re.compile(r"[TE][A-Z0-9]{1,31}")


def _fits(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_user_id(value: object) -> bool:
    """A user id as Slack mints them: `U…`, or `W…` on Enterprise Grid."""
    return _fits(_USER, value)


def is_channel_id(value: object) -> bool:
    """A conversation id: a public (`C…`) or private (`G…`) channel, or a direct message (`D…`)."""
    return _fits(_CHANNEL, value)


def is_team_id(value: object) -> bool:
    """A workspace (`T…`) or Enterprise Grid organisation (`E…`) id."""
    return _fits(_TEAM, value)


def valid_user_id(value: object) -> str:
    """`value` if it is a user id, else "" (what a request without one carries): for ids read
    out of a button's body, which then go through the same refusals as a missing id."""
    return value if isinstance(value, str) and is_user_id(value) else ""


def valid_channel_id(value: object) -> str:
    """`value` if it is a channel id, else ""; see `valid_user_id`."""
    return value if isinstance(value, str) and is_channel_id(value) else ""


def user_mention(user_id: str, unknown: str = "someone") -> str:
    """`<@user_id>`, or `unknown` (plain mrkdwn, written by us) for anything not a user id."""
    return f"<@{user_id}>" if is_user_id(user_id) else unknown


def channel_mention(channel_id: str, unknown: str = "another channel") -> str:
    """`<#channel_id>`, or `unknown` for anything not a channel id."""
    return f"<#{channel_id}>" if is_channel_id(channel_id) else unknown


class BadRequest(UserError):
    """A request without the ids a command needs, or with ids Slack would never send."""


@dataclass(frozen=True)
class Requester:
    """Who sent a request, from where: ids checked against Slack's shapes. `team` may be ""."""

    user: str
    channel: str
    team: str = ""


def requester(payload: Mapping[str, Any]) -> Requester:
    """The payload's user, channel and workspace, or `BadRequest` naming what is wrong.

    A job needs its user (the status line names them, `cancel` checks them) and its channel
    (where it posts); the workspace id is only kept with the job, so it may be absent, but not
    odd. The refusal never echoes the values: they could be anything, of any length.
    """
    user, channel, team = (payload.get(name) for name in ("user_id", "channel_id", "team_id"))
    wrong = [
        f"`{name}` is {'missing' if not value else 'not ' + what}"
        for name, value, ok, what in (
            ("user_id", user, is_user_id(user), "a Slack user id (like `U0123ABCD`)"),
            ("channel_id", channel, is_channel_id(channel), "a Slack channel id (like `C0123ABCD`)"),
            ("team_id", team, not team or is_team_id(team), "a Slack workspace id (like `T0123ABCD`)"),
        )
        if not ok
    ]
    if wrong:
        raise BadRequest(
            f":warning: Nothing was done: this request did not say clearly who sent it from where "
            f"({'; '.join(wrong)}). Slack always sends these with a command or a click, so try "
            "again from Slack; if it keeps happening, tell whoever runs reportbot."
        )
    return Requester(str(user), str(channel), str(team or ""))
