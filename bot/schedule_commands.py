"""`schedule add|list|remove|pause|resume`: schedules made, seen and changed from Slack.

Everything is checked before anything is stored: the report and its arguments, the rule (cron
text, the shortest interval allowed), the zone, and who may change schedules. Beat picks up what
is stored here within a tick; this module never talks to beat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot import grammar
from bot.commands import CommandHandler, Reply
from bot.paging import page_of
from bot.schedule_views import (
    PAGE_SIZE,
    added_text,
    list_text,
    schedule_line,
    shown_at,
    with_schedule_button,
)
from bot.slack_payload import string_at
from tasks.errors import UserError
from tasks.reports import Report
from tasks.schedules.home_refresh import refresh_home
from tasks.schedules.schedule import (
    CRON_EXAMPLE,
    DEFAULT_MISFIRE,
    Rule,
    Schedule,
    ScheduleError,
    ScheduleLimits,
    ScheduleStore,
    StaticSchedules,
    all_schedules,
    describe_seconds,
    first_run,
    new_schedule_id,
    plan,
    validate_rule,
    zone,
)
from tasks.settings import Settings
from tasks.slack.ids import user_mention
from tasks.slack.mrkdwn import code, escape_mrkdwn
from tasks.slack.web_api import WebApi

log = logging.getLogger(__name__)


class ScheduleCommands:
    """The five schedule commands, as CommandHandler handlers.

    The handler's registry, job records (and their store) and access rules are used as they
    are, so a schedule is checked exactly as running the report now would be.
    """

    def __init__(self, settings: Settings, handler: CommandHandler) -> None:
        self.settings = settings
        self.registry = handler.registry
        self.records = handler.records
        self.access = handler.access
        self.deliveries = handler.deliveries  # a replayed `schedule add` adds nothing new
        self.schedules = ScheduleStore(handler.records.store)
        self.limits = ScheduleLimits(
            self.schedules,
            per_user=settings.schedules_per_user,
            per_channel=settings.schedules_per_channel,
            exempt=settings.admin_users,
            command=settings.slack_command,
        )
        self.static = StaticSchedules(settings.reports_file, handler.registry)
        # users.info is asked inside Slack's 3-second ack window: one try, one second.
        self.slack = WebApi.for_settings(settings, ack_path=True)
        self.command = settings.slack_command
        # Homes are published after the ack, with the usual retries.
        self.home_api = WebApi.for_settings(settings)

    def install(self, handler: CommandHandler) -> None:
        """Plug the schedule commands into `handler`."""
        handler.register(grammar.ScheduleAdd, self.add)
        handler.register(grammar.ScheduleList, self.list_schedules)
        handler.register(grammar.ScheduleRemove, self.remove)
        handler.register(grammar.SchedulePause, self.pause)
        handler.register(grammar.ScheduleResume, self.resume)

    # -- commands --------------------------------------------------------------------------

    def add(self, cmd: grammar.ScheduleAdd, payload: Mapping[str, Any]) -> Reply:
        channel, user = _where(payload)
        report = self.check_report(user, channel, cmd.report, cmd.args)
        tz = cmd.tz or self.default_zone(user)
        now = time.time()
        rule = Rule(every_seconds=cmd.every_seconds, cron=cmd.cron, tz=tz)
        try:
            runs = self.check_rule(rule, now)
        except ScheduleError as exc:
            raise ScheduleError(f"{exc.message} {self.example(cmd)}") from None
        schedule = Schedule(
            id=new_schedule_id(),
            report=report.name,
            args=dict(cmd.args),
            rule=rule,
            channel=channel,
            user=user,
            misfire=cmd.misfire or DEFAULT_MISFIRE,
            created_at=now,
            since=now,
        )
        first = self.save_new(schedule, string_at(payload, "trigger_id"))
        if first:  # the same request again: the answer of the schedule it added
            return Reply(added_text(replace(schedule, id=first), runs, self.command), outcome="replayed")
        return Reply(
            added_text(schedule, runs, self.command), after=self.refresh_homes(user), outcome="scheduled"
        )

    # -- the steps of an add, shared with the schedule form (`bot.schedule_form`) -------------

    def check_report(self, user: str, channel: str, report_name: str, args: Mapping[str, str]) -> Report:
        """The report, if `user` may schedule it with `args` in `channel`; else UserError."""
        self.require_admin(user, "add")
        report = self.registry.require(report_name, command=self.command)
        self.access.check(report, channel, user)
        report.convert_args(dict(args))
        return report

    def check_rule(self, rule: Rule, now: float) -> list[datetime]:
        """The rule's next three runs, if zone, rule and rhythm are allowed here; else ScheduleError."""
        return validate_rule(rule, self.settings.schedule_min_interval, datetime.fromtimestamp(now, tz=UTC))

    def save_new(self, schedule: Schedule, delivery: str) -> str:
        """Store a checked schedule within the limits. Returns "" once stored, or the id of the
        schedule this same `delivery` (a trigger_id) already added, and then stores nothing."""
        first = self.deliveries.first(delivery or None, schedule.id)
        if first:
            return str(first)
        try:
            with self.limits.room_for(schedule.user, schedule.channel):
                self.schedules.add(schedule)
        except Exception:  # nothing was added, so a later delivery of this request may add it
            self.deliveries.forget(delivery or None, schedule.id)
            raise
        log.info(
            "schedule %s added by %s: %s %s",
            schedule.id,
            schedule.user,
            schedule.report,
            schedule.rule.describe(),
        )
        return ""

    def save_edit(self, before: Schedule, after: Schedule, now: float) -> Schedule:
        """Replace `before`'s definition with `after` (same id), re-planned from now on as
        `resume` does. A move to another channel must fit that channel's limit."""
        if after.channel != before.channel:
            with self.limits.room_for(after.user, after.channel, replacing=before.id):
                saved = self.schedules.redefine(after, now)
        else:
            saved = self.schedules.redefine(after, now)
        log.info("schedule %s edited: %s %s", saved.id, saved.report, saved.rule.describe())
        return saved

    def list_schedules(self, cmd: grammar.ScheduleList, payload: Mapping[str, Any]) -> Reply:
        channel, _ = _where(payload)
        now = time.time()
        listing = f"{self.command} schedule list"
        page = page_of(
            [s for s in self.known_schedules() if s.channel == channel],
            cmd.page,
            PAGE_SIZE,
            what="this channel's schedules",
            command=listing,
        )
        states = self.schedules.states() if page.items else {}
        lines = []
        for schedule in page.items:
            state = states.get(schedule.id)
            record = self.records.get(state.last_job_id) if state and state.last_job_id else None
            next_run = plan(schedule, state, now).next_run  # as beat will plan it
            lines.append(schedule_line(schedule, state, next_run, record))
        text = list_text(lines, page, self.command)
        return Reply(text, blocks=with_schedule_button(text))

    def remove(self, cmd: grammar.ScheduleRemove, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "remove")
        self.schedules.remove(schedule.id)
        return Reply(
            f":wastebasket: Removed schedule {code(schedule.id)} ({escape_mrkdwn(schedule.report)}); it will not run again.",
            after=self.refresh_homes(_where(payload)[1], schedule.user),
        )

    def pause(self, cmd: grammar.SchedulePause, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "pause")
        if schedule.paused:
            return Reply(
                f"Schedule {code(schedule.id)} is already paused. Resume it with {code(f'{self.command} schedule resume {schedule.id}')}."
            )
        self.schedules.set_paused(schedule, True, time.time())
        return Reply(
            f":double_vertical_bar: Paused schedule {code(schedule.id)}; runs planned while paused are skipped. "
            f"Resume it with {code(f'{self.command} schedule resume {schedule.id}')}.",
            after=self.refresh_homes(_where(payload)[1], schedule.user),
        )

    def resume(self, cmd: grammar.ScheduleResume, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "resume")
        if not schedule.paused:
            return Reply(f"Schedule {code(schedule.id)} is not paused; it is running as planned.")
        resumed = self.schedules.set_paused(schedule, False, time.time())
        nxt = first_run(resumed, time.time())
        return Reply(
            f":arrow_forward: Resumed schedule {code(schedule.id)}; next run {shown_at(nxt, resumed)}.",
            after=self.refresh_homes(_where(payload)[1], schedule.user),
        )

    # -- the App Home ----------------------------------------------------------------------

    def refresh_homes(self, *users: str) -> list[Callable[[], None]]:
        """The after-ack step that publishes the Homes a schedule change shows in: the actor's,
        the owner's, and the admins' (who see every schedule). Only those who have opened
        their Home are published (`refresh_home`), and a failure is one log line."""

        def refresh() -> None:
            static = self.static.current()
            for user in dict.fromkeys((*users, *self.settings.admin_users)):
                if user:
                    refresh_home(
                        self.home_api, self.schedules.store, user, settings=self.settings, static=static
                    )

        return [refresh]

    # -- checks ----------------------------------------------------------------------------

    def known_schedules(self) -> list[Schedule]:
        """Every schedule: those added from Slack and those declared in the reports file."""
        return all_schedules(self.schedules, self.static.current())

    def changeable(self, schedule_id: str, payload: Mapping[str, Any], verb: str) -> Schedule:
        """The channel's schedule `schedule_id`, if this person may `verb` it; else UserError."""
        channel, user = _where(payload)
        self.require_admin(user, verb)
        found = next((s for s in self.known_schedules() if s.id == schedule_id), None)
        listing = code(f"{self.command} schedule list")
        # Another channel's schedule gets the words of an unknown id: whoever asks here may not
        # see that channel, and its name or the id's existence is its business.
        if found is None or found.channel != channel:
            raise UserError(
                f"There is no schedule {code(schedule_id)} in this channel. {listing} shows this "
                "channel's schedules; a schedule is changed from the channel it posts in."
            )
        if found.static:
            raise UserError(
                f"Schedule {code(schedule_id)} is declared in the configuration "
                f"({code(self.settings.reports_file)}), so it cannot be {verb.removesuffix('e')}ed from Slack. "
                "Change it in that file and restart beat."
            )
        return found

    def require_admin(self, user: str, verb: str) -> None:
        admins = self.settings.admin_users
        if admins and user not in admins:
            who = ", ".join(user_mention(a, code(a)) for a in admins)
            raise UserError(
                f"Only {who} may {verb} schedules here; ask one of them. "
                f"Anyone may see them with {code(f'{self.command} schedule list')}."
            )

    def default_zone(self, user: str) -> str:
        """The adding user's zone from Slack, else DEFAULT_TIMEZONE, else UTC."""
        for candidate in (self.user_zone(user) if user else None, self.settings.default_timezone):
            if candidate:
                try:
                    zone(candidate)
                    return candidate
                except ScheduleError:
                    log.warning("time zone %r is unknown here; trying the next default", candidate)
        return "UTC"

    def user_zone(self, user: str) -> str | None:
        """The user's time zone from `users.info`, quickly; None when Slack does not say."""
        try:
            return self.slack.user_time_zone(user)
        except Exception as exc:  # any failure means "use the default zone"
            log.info("users.info for %s failed (%s); using the default zone", user, type(exc).__name__)
            return None

    def example(self, cmd: grammar.ScheduleAdd) -> str:
        args = " ".join(f"{k}={v}" for k, v in cmd.args.items())
        base = f"{self.command} schedule add {cmd.report}{' ' + args if args else ''}"
        every = max(self.settings.schedule_min_interval, 3600)
        return (
            f"For example {code(f'{base} every {describe_seconds(every)}')} or "
            f"{code(base + ' cron ' + chr(34) + CRON_EXAMPLE + chr(34) + ' tz=Europe/Berlin')}."
        )


def _where(payload: Mapping[str, Any]) -> tuple[str, str]:
    return string_at(payload, "channel_id"), string_at(payload, "user_id")


def install_schedule_commands(handler: CommandHandler, settings: Settings) -> ScheduleCommands:
    """Register the schedule commands on `handler` (called from `bot.app.make_handler`)."""
    commands = ScheduleCommands(settings, handler)
    commands.install(handler)
    return commands
