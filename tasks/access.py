"""Who may run a report: checked by the bot before it queues, and by the worker before it runs.

A report may be limited with ``@report(..., channels=..., users=..., groups=...)``:

* ``channels``: the channel ids it may be run in (empty: any channel);
* ``users`` and ``groups``: the Slack user ids, and the user groups (``S…`` ids) whose members,
  may run it (both empty: anyone). A person passes if they are listed *or* in a listed group.

Both must hold: a finance report limited to ``#finance`` and the ``@finance`` group is refused
to a finance person in ``#general`` and to anyone else in ``#finance``.

The worker checks again because a message in the queue is only as trustworthy as whoever could
publish it; a forged or stale job for a restricted report never runs. User-group membership
comes from Slack (``usergroups.users.list``), cached briefly per process, and is only asked for
reports that declare groups, so the ack path of every other report stays a parse and a publish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from tasks.errors import UserError
from tasks.mrkdwn import code, escape_mrkdwn, join_or
from tasks.reports import Report
from tasks.settings import Settings
from tasks.slack_client import make_client

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0
# The bot asks inside Slack's 3-second ack window; a slow Slack means "try again", not a timeout.
LOOKUP_TIMEOUT = 1.5

__all__ = ["Access", "AccessDenied", "GroupDirectory", "ack_path_access", "make_access", "may_run", "who_may"]


class AccessDenied(UserError):
    """The person may not run this report here; the message says who may."""


class GroupLookupFailed(Exception):
    """Slack did not tell us who is in a user group; access is refused, never assumed."""


def may_run(report: Report, channel: str, user: str, user_groups: Iterable[str] = ()) -> bool:
    """Whether `user` may run `report` in `channel`, given the listed groups they belong to.

    Pure: the caller works out `user_groups` (only needed when the report declares groups).

    >>> r = Report.from_function(lambda: "", name="fin", channels=("C1",), users=("U1",))
    >>> may_run(r, "C1", "U1"), may_run(r, "C2", "U1"), may_run(r, "C1", "U2")
    (True, False, False)
    """
    if report.channels and channel not in report.channels:
        return False
    if report.users or report.groups:
        return user in report.users or any(g in report.groups for g in user_groups)
    return True


def who_may(report: Report) -> str:
    """The sentence a refusal ends with: where the report may run, and who may run it."""
    parts: list[str] = []
    if report.channels:
        parts.append("only in " + join_or([f"<#{escape_mrkdwn(c)}>" for c in report.channels]))
    people = [f"<@{escape_mrkdwn(u)}>" for u in report.users]
    people += [f"members of <!subteam^{escape_mrkdwn(g)}>" for g in report.groups]
    if people:
        parts.append("only by " + join_or(people))
    return f"{code(report.name)} can be run " + ", and ".join(parts) + "."


def refusal_text(report: Report) -> str:
    return (
        f":no_entry: You cannot run {code(report.name)} here. {who_may(report)} "
        "Ask one of them to run it, or ask whoever runs reportbot for access. Nothing was queued."
    )


class GroupDirectory:
    """Members of Slack user groups, from `usergroups.users.list`, cached for a short while."""

    def __init__(
        self,
        client: Callable[[], WebClient],
        ttl: float = GROUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_client = client
        self._client: WebClient | None = None
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def _web(self) -> WebClient:
        # Built on first use: a worker process forks after import, and most reports declare no groups.
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def members(self, group: str) -> frozenset[str]:
        """The user ids in `group`; raises GroupLookupFailed when Slack cannot say."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
            if cached and cached[1] > now:
                return cached[0]
        try:
            response = self._web().usergroups_users_list(usergroup=group)
        except (SlackApiError, OSError) as exc:
            error = exc.response.get("error", "") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not list the members of user group %s: %s", group, error)
            raise GroupLookupFailed(str(error)) from exc
        members = frozenset(str(u) for u in response.get("users") or [])
        with self._lock:
            self._cache[group] = (members, now + self._ttl)
        return members


class Access:
    """The check both the bot and the worker make, with their own group directory."""

    def __init__(self, groups: GroupDirectory) -> None:
        self.groups = groups

    def check(self, report: Report, channel: str, user: str) -> None:
        """Return if `user` may run `report` in `channel`; else raise AccessDenied saying who may."""
        if may_run(report, channel, user):
            return
        if report.channels and channel not in report.channels or not report.groups:
            raise AccessDenied(refusal_text(report))
        try:
            mine = [g for g in report.groups if user in self.groups.members(g)]
        except GroupLookupFailed:
            raise AccessDenied(
                f":warning: {code(report.name)} is limited to members of some user groups, and Slack "
                "did not tell me who is in them just now. Nothing was queued; please try again in a minute."
            ) from None
        if not may_run(report, channel, user, mine):
            raise AccessDenied(refusal_text(report))


def make_access(client: Callable[[], WebClient]) -> Access:
    """An Access whose group lookups go through the client `client()` builds on first use."""
    return Access(GroupDirectory(client))


def ack_path_access(settings: Settings) -> Access:
    """The bot's Access: lookups with a short timeout and no rate-limit waits, inside the 3 s."""

    def client() -> WebClient:
        web = make_client(settings)
        web.timeout = LOOKUP_TIMEOUT
        web.retry_handlers = [ConnectionErrorRetryHandler(max_retry_count=1)]
        return web

    return make_access(client)


