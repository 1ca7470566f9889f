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
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from tasks.errors import UserError
from tasks.settings import Settings
from tasks.slack.ids import channel_mention, user_mention
from tasks.slack.mrkdwn import code, escape_mrkdwn, join_or
from tasks.slack.web_api import ACK_PATH_TIMEOUT, WebApi

if TYPE_CHECKING:  # only named in annotations: the job side does not load the report API
    from tasks.reports import Report

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0
# The bot asks inside Slack's 3-second ack window: all its group lookups for one command fit in
# this many seconds (each is one try of ACK_PATH_TIMEOUT); a slow Slack means "try again".
ACK_PATH_BUDGET = 1.5

__all__ = ["Access", "AccessDenied", "GroupDirectory", "ack_path_access", "make_access", "may_run", "who_may"]


class AccessDenied(UserError):
    """The person may not run this report here; the message says who may."""


class GroupLookupFailed(UserError):
    """Slack did not tell us who is in a user group in time; access is never assumed.

    The bot answers it as a refusal (nothing was queued, try again); the worker treats it as
    a passing failure and retries the job later.
    """


def may_run(report: Report, channel: str, user: str, user_groups: Iterable[str] = ()) -> bool:
    """Whether `user` may run `report` in `channel`, given the listed groups they belong to.

    Pure: the caller works out `user_groups` (only needed when the report declares groups).

    >>> from tasks.reports import Report
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
        parts.append("only in " + join_or([channel_mention(c, code(c)) for c in report.channels]))
    people = [user_mention(u, code(u)) for u in report.users]
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
        slack: Callable[[], WebApi],
        ttl: float = GROUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_slack = slack
        self._slack: WebApi | None = None
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def _web(self) -> WebApi:
        # Built on first use: a worker process forks after import, and most reports declare no groups.
        if self._slack is None:
            self._slack = self._make_slack()
        return self._slack

    def members(self, group: str) -> frozenset[str]:
        """The user ids in `group`; raises GroupLookupFailed (without a message) when Slack
        cannot say: `Access.check` words it for the report at hand."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
            if cached and cached[1] > now:
                return cached[0]
        try:
            members = self._web().usergroup_members(group)
        except (SlackApiError, OSError) as exc:
            error = exc.response.get("error", "") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not list the members of user group %s: %s", group, error)
            raise GroupLookupFailed(str(error)) from exc
        with self._lock:
            self._cache[group] = (members, now + self._ttl)
        return members


class Access:
    """The check both the bot and the worker make, with their own group directory.

    `budget` bounds the time all group lookups of one check may take (the bot's, inside Slack's
    ack window); None leaves each lookup to its client's own timeout (the worker's).
    """

    def __init__(
        self,
        groups: GroupDirectory,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.groups = groups
        self.budget = budget
        self._clock = clock

    def check(self, report: Report, channel: str, user: str) -> None:
        """Return if `user` may run `report` in `channel`; else raise AccessDenied saying who may,
        or GroupLookupFailed when Slack could not say in time who is in the report's groups."""
        if may_run(report, channel, user):
            return
        if report.channels and channel not in report.channels or not report.groups:
            raise AccessDenied(refusal_text(report))
        started = self._clock()
        for group in report.groups:  # the first group that has the user settles it
            out_of_time = self.budget is not None and self._clock() - started + ACK_PATH_TIMEOUT > self.budget
            try:
                if out_of_time:
                    raise GroupLookupFailed("out of time")
                if user in self.groups.members(group) and may_run(report, channel, user, [group]):
                    return
            except GroupLookupFailed:
                raise GroupLookupFailed(
                    f":warning: {code(report.name)} is limited to members of some user groups, and Slack "
                    "did not tell me who is in them just now. Nothing was queued; please try again in a minute."
                ) from None
        raise AccessDenied(refusal_text(report))


def make_access(slack: Callable[[], WebApi], budget: float | None = None) -> Access:
    """An Access whose group lookups go through the WebApi `slack()` builds on first use."""
    return Access(GroupDirectory(slack), budget=budget)


def ack_path_access(settings: Settings) -> Access:
    """The bot's Access: one quick try per lookup, all within ACK_PATH_BUDGET."""
    return make_access(lambda: WebApi.for_settings(settings, ack_path=True), budget=ACK_PATH_BUDGET)
