"""A schedule that keeps failing, or whose channel is gone, pauses itself and says so once.

Without this a broken digest fails every morning in a channel nobody reads any more, or posts
into an archived channel forever. Three things pause a schedule by themselves:

- its runs failing `SCHEDULE_FAILURE_LIMIT` times in a row (a count in the store per schedule,
  reset by a run that succeeds or is skipped): said in its channel and to its creator;
- a post refused for good (`channel_not_found`, `is_archived`, `not_in_channel`, or the app's
  access lost): said to its creator, since its channel cannot be posted in;
- Slack's events (the channel archived, the bot removed, the app uninstalled): the bot's
  `bot.channel_events` calls `pause` here too.

"Once": a schedule already paused is left alone and nobody is told again, and the count of
failures says "pause" exactly when it reaches the limit (the store counts atomically); resuming
the schedule starts the count from zero (`ScheduleStore.set_paused`).
Telling is best effort: a DM that Slack refuses is logged, never raised, so the pause itself
(the part that stops the noise) always happens.
"""

from __future__ import annotations

import logging
import time

from tasks.jobs.records import JobRecords
from tasks.schedules.schedule import Schedule, ScheduleStore, failures_key
from tasks.settings import Settings
from tasks.slack.ids import channel_mention, valid_user_id
from tasks.slack.mrkdwn import code, escape_mrkdwn
from tasks.slack.web_api import WebApi
from tasks.store import Store

log = logging.getLogger(__name__)

#: A count of failures in a row is forgotten after this long without another failure.
FAILURE_COUNT_TTL = 30 * 86400

# The errors of a post that no retry fixes, and the reason a schedule then pauses with.
CHANNEL_ARCHIVED_REASON = "its channel was archived"
BOT_REMOVED_REASON = "I was removed from its channel"
UNINSTALLED_REASON = "the app was uninstalled from the workspace"
TOKEN_REVOKED_REASON = "the app's token was revoked"
CHANNEL_GONE_REASONS = {
    "channel_not_found": "I cannot see its channel any more (deleted, or private without me)",
    "is_archived": "its channel is archived",
    "not_in_channel": "I am no longer a member of its channel",
}
LOST_ACCESS_ERRORS = frozenset({"account_inactive", "invalid_auth", "token_revoked"})
LOST_ACCESS_REASON = "the app lost its access to Slack (uninstalled, or its token revoked)"
#: How long the claim of one pause is kept: far longer than any redelivery or race.
PAUSE_CLAIM_TTL = 86400
#: At most this many self-pause notices to one channel or person per `NOTICE_WINDOW` seconds;
#: the last says where the rest are seen.
NOTICES_PER_WINDOW = 3
NOTICE_WINDOW = 3600
MORE_FOR_CREATOR = (
    "_If more of your schedules pause in the next hour, I will not message you about each: "
    "your App Home lists them, paused ones with the reason._"
)
#: How many schedules one DM about several names; the rest are counted ("… and 12 more").
NAMED_IN_NOTICE = 10


def notices_key(where: str) -> str:
    """The store's count of self-pause notices to `where` (a channel, or a person) this window."""
    return f"self_pause:told:{where}"


def reason_for_post_error(error: str) -> str | None:
    """Why a schedule pauses when Slack refused its post with `error`; None when that error
    is not one that stays (the job's own retry rules deal with it)."""
    if error in CHANNEL_GONE_REASONS:
        return CHANNEL_GONE_REASONS[error]
    if error in LOST_ACCESS_ERRORS:
        return LOST_ACCESS_REASON
    return None


class SelfPause:
    """Counts a schedule's failures in a row, and pauses it (and tells people) when it must."""

    def __init__(self, settings: Settings, store: Store, slack: WebApi) -> None:
        self.settings = settings
        self.store = store
        self.schedules = ScheduleStore(store)
        self.records = JobRecords(store)
        self.slack = slack
        self.limit = settings.schedule_failure_limit
        self.command = settings.slack_command

    def run_succeeded(self, schedule_id: str) -> None:
        """A run that posted or had nothing to say: the failures in a row start again from 0."""
        self.store.delete(failures_key(schedule_id))

    def run_failed(self, schedule_id: str) -> Schedule | None:
        """Count one more failure in a row; at the limit, pause the schedule and say so in its
        channel and to its creator. Returns the schedule when this call paused it."""
        count = self.store.count_up(failures_key(schedule_id), FAILURE_COUNT_TTL)
        if count != self.limit:
            return None
        runs = "run" if count == 1 else f"{count} runs in a row"
        return self.pause(schedule_id, f"its last {runs} failed", tell_channel=True)

    def post_refused(self, schedule_id: str, error: str) -> Schedule | None:
        """A run's post was refused with `error`: pause the schedule if no retry can help, and
        tell its creator. Returns the schedule when this call paused it."""
        reason = reason_for_post_error(error)
        if reason is None:
            return None
        return self.pause(schedule_id, reason, tell_channel=False, can_tell=error not in LOST_ACCESS_ERRORS)

    def pause_channel(self, channel: str, reason: str) -> list[Schedule]:
        """Pause every schedule that posts in `channel` (archived, or the bot removed from it),
        telling each creator by one DM for all of theirs (a creator of twenty digests there gets
        one message, not twenty); the channel itself cannot be posted in. Returns those paused."""
        mine = [s for s in self.schedules.all() if s.channel == channel and not s.paused]
        paused = [
            p
            for s in mine
            if (p := self.pause(s.id, reason, tell_channel=False, tell_creator=False)) is not None
        ]
        by_creator: dict[str, list[Schedule]] = {}
        for schedule in paused:
            if valid_user_id(schedule.user):
                by_creator.setdefault(schedule.user, []).append(schedule)
        for creator, theirs in by_creator.items():
            text = (
                creator_notice(theirs[0], self.command)
                if len(theirs) == 1
                else creator_notice_many(theirs, channel, reason, self.command)
            )
            self._tell(creator, text, ", ".join(s.id for s in theirs[:NAMED_IN_NOTICE]), "its creator")
        return paused

    def pause_all(self, reason: str) -> list[Schedule]:
        """Pause every schedule (the app uninstalled, its token revoked); nobody can be told
        with a token that no longer works, so the log says it. Returns those paused."""
        running = [s for s in self.schedules.all() if not s.paused]
        return [
            p
            for s in running
            if (p := self.pause(s.id, reason, tell_channel=False, can_tell=False)) is not None
        ]

    def pause(
        self,
        schedule_id: str,
        reason: str,
        *,
        tell_channel: bool,
        can_tell: bool = True,
        tell_creator: bool = True,
    ) -> Schedule | None:
        """Pause `schedule_id` with `reason`, unless it is gone, paused already or declared in the
        configuration (which Slack cannot change: logged). Tells its creator by DM, and its
        channel when `tell_channel`; with `tell_creator` False the caller tells the creator (one
        DM for several schedules); with `can_tell` False (the app has no access left) the log
        is the only one told. Returns the paused schedule, or None when nothing changed."""
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            log.warning(
                "schedule %s would pause (%s) but is not stored (static, or removed)", schedule_id, reason
            )
            return None
        if schedule.paused:
            return None
        # Two pauses may both have read it running (an event Slack delivered again while the
        # first delivery was at work; the event and a worker's refused post): only the one that
        # claims this running spell (its `since`, new on every resume) pauses it and tells.
        claim = f"self_pause:{schedule_id}:{schedule.since!r}"
        if not self.store.claim(claim, reason[:200], PAUSE_CLAIM_TTL):
            return None
        try:
            paused = self.schedules.set_paused(schedule, True, time.time(), reason=reason)
        except Exception:  # not paused: a later failure or event may pause it
            self.store.release(claim, reason[:200])
            raise
        log.warning("schedule %s paused itself: %s", schedule_id, reason)
        self._home_stale(schedule)
        if not can_tell:
            log.warning(
                "schedule %s: its creator %s cannot be told (no access to Slack)", schedule_id, schedule.user
            )
            return paused
        if tell_channel:
            self._tell(schedule.channel, channel_notice(paused, self.command), schedule_id, "its channel")
        if tell_creator and valid_user_id(schedule.user):
            self._tell(schedule.user, creator_notice(paused, self.command), schedule_id, "its creator")
        return paused

    def _home_stale(self, schedule: Schedule) -> None:
        """Its creator's App Home shows it paused once beat republishes it (`mark_home_stale`:
        the worker, where this mostly runs, publishes no Home itself)."""
        try:
            self.records.mark_home_stale(schedule.user)
        except Exception as exc:  # the Home shows it when next opened
            log.warning("schedule %s paused, but its creator's Home was not marked: %s", schedule.id, exc)

    def _tell(self, where: str, text: str, schedule_id: str, whom: str) -> None:
        """Post `text` to `where` (a channel, or a creator by DM), at most `NOTICES_PER_WINDOW`
        times a window: when many schedules pause at once (the database down all morning, each
        reaching its failure limit in a worker job of its own) a creator or a channel gets a few
        notices, the last saying where the rest are seen, not one per schedule."""
        try:
            told = self.store.count_up(notices_key(where), NOTICE_WINDOW)
        except Exception as exc:  # the store could not count: telling is still worth it
            log.warning("schedule %s: notices to %s not counted: %s", schedule_id, whom, exc)
            told = 1
        if told > NOTICES_PER_WINDOW:
            log.warning("schedule %s paused; %s not told (%d notices this hour)", schedule_id, whom, told - 1)
            return
        if told == NOTICES_PER_WINDOW:
            text += "\n" + (MORE_FOR_CREATOR if valid_user_id(where) else more_in_channel(self.command))
        try:
            self.slack.post_message(where, text)
        except Exception as exc:  # the pause is what matters; the notice is best effort
            log.warning("schedule %s paused, but %s could not be told: %s", schedule_id, whom, exc)


def _what(schedule: Schedule) -> str:
    args = " ".join(f"{k}={v}" for k, v in schedule.args.items())
    shown = f"*{escape_mrkdwn(schedule.report)}*"
    return f"{shown} {code(args)}" if args else shown


def channel_notice(schedule: Schedule, command: str) -> str:
    """What the schedule's channel reads when it paused itself: which, why, how to resume."""
    resume = code(f"{command} schedule resume {schedule.id}")
    return (
        f":double_vertical_bar: Schedule {code(schedule.id)} ({_what(schedule)}) paused itself: "
        f"{escape_mrkdwn(schedule.paused_reason)}. It will not run until someone resumes it with {resume}."
    )


def creator_notice(schedule: Schedule, command: str) -> str:
    """What the schedule's creator reads by DM: which schedule, where, why, what to do."""
    resume = code(f"{command} schedule resume {schedule.id}")
    return (
        f":double_vertical_bar: Your schedule {code(schedule.id)} ({_what(schedule)}) in {channel_mention(schedule.channel)} "
        f"paused itself: {escape_mrkdwn(schedule.paused_reason)}. Nothing more will be posted for it. "
        f"Once that is fixed, resume it in its channel with {resume}, or remove it."
    )


def creator_notice_many(schedules: list[Schedule], channel: str, reason: str, command: str) -> str:
    """One DM to a creator for several of their schedules paused at once in `channel`: which
    (the first `NAMED_IN_NOTICE`, the rest counted, so the message stays short), why, what to do."""
    named = [f"• {code(s.id)} (*{escape_mrkdwn(s.report[:80])}*)" for s in schedules[:NAMED_IN_NOTICE]]
    more = len(schedules) - len(named)
    if more:
        named.append(f"… and {more} more")
    listing = "\n".join(named)
    resume = code(f"{command} schedule resume <id>")
    return (
        f":double_vertical_bar: Your {len(schedules)} schedules in {channel_mention(channel)} paused "
        f"themselves: {escape_mrkdwn(reason)}. Nothing more will be posted for them.\n{listing}\n"
        f"Once that is fixed, resume each in its channel with {resume}, or remove it."
    )


def more_in_channel(command: str) -> str:
    """The last notice's word in a channel before the rest of the hour's pauses go unsaid."""
    return (
        "_If more schedules here pause in the next hour, I will not post about each: "
        f"{code(f'{command} schedule list')} shows them, paused ones with the reason._"
    )
