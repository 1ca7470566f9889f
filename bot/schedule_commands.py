"""`schedule add|list|remove|pause|resume`: schedules made, seen and changed from Slack.

Everything is checked before anything is stored: the report and its arguments, the rule (cron
text, the shortest interval allowed), the zone, and who may change schedules. Beat picks up what
is stored here within a tick; this module never talks to beat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot import grammar
from bot.commands import CommandHandler, Reply
from bot.schedule_views import added_text, list_text, schedule_line, when
from tasks.errors import UserError
from tasks.jobs import JobRecords
from tasks.mrkdwn import code, escape_mrkdwn
from tasks.reports import Registry
from tasks.schedules import (
    DEFAULT_MISFIRE,
    Rule,
    Schedule,
    ScheduleError,
    ScheduleStore,
    all_schedules,
    describe_seconds,
    first_run,
    load_static_schedules,
    new_schedule_id,
    validate_rule,
    zone,
)
from tasks.settings import Settings
from tasks.slack_client import make_client
from tasks.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

#: users.info is asked inside Slack's 3-second ack window: one try, one second.
USER_ZONE_TIMEOUT = 1.0

STORE_DOWN = (
    ":warning: Schedules are unavailable right now (Redis is not answering), so nothing was "
    "changed. Try again in a minute."
)


def slack_user_zone(settings: Settings) -> Callable[[str], str | None]:
    """Look a user's time zone up with `users.info`, quickly; None when Slack does not say."""

    def lookup(user: str) -> str | None:
        client = make_client(settings)
        client.timeout = int(USER_ZONE_TIMEOUT) or 1
        client.retry_handlers = []
        try:
            response = client.users_info(user=user)
            tz = (response.get("user") or {}).get("tz")
            return str(tz) if tz else None
        except Exception as exc:  # any failure means "use the default zone"
            log.info("users.info for %s failed (%s); using the default zone", user, type(exc).__name__)
            return None

    return lookup


class ScheduleCommands:
    """The five schedule commands, as CommandHandler handlers."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: Store,
        *,
        access: Any = None,
        user_zone: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.schedules = ScheduleStore(store)
        self.records = JobRecords(store, settings.job_retention_days)
        self.access = access
        self.user_zone = user_zone or slack_user_zone(settings)
        self.clock = clock
        self.command = settings.slack_command

    def install(self, handler: CommandHandler) -> None:
        """Plug the schedule commands into `handler` (and use its access rules)."""
        if self.access is None:
            self.access = getattr(handler, "access", None)
        handler.register(grammar.ScheduleAdd, self.add)
        handler.register(grammar.ScheduleList, self.list)
        handler.register(grammar.ScheduleRemove, self.remove)
        handler.register(grammar.SchedulePause, self.pause)
        handler.register(grammar.ScheduleResume, self.resume)

    # -- commands --------------------------------------------------------------------------

    def add(self, cmd: grammar.ScheduleAdd, payload: Mapping[str, Any]) -> Reply:
        channel, user = _where(payload)
        self.require_admin(user, "add")
        report = self.registry.require(cmd.report, command=self.command)
        if self.access is not None:
            self.access.check(report, channel, user)
        report.convert_args(dict(cmd.args))
        tz = cmd.tz or self.default_zone(user)
        now = self.clock()
        rule = Rule(every_seconds=cmd.every_seconds, cron=cmd.cron, tz=tz)
        try:
            runs = validate_rule(
                rule, self.settings.schedule_min_interval, datetime.fromtimestamp(now, tz=UTC)
            )
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
        try:
            self.schedules.add(schedule)
        except StoreUnavailable:
            return Reply(STORE_DOWN, outcome="error")
        log.info("schedule %s added by %s: %s %s", schedule.id, user, schedule.report, rule.describe())
        return Reply(added_text(schedule, runs, self.command), outcome="scheduled")

    def list(self, cmd: grammar.ScheduleList, payload: Mapping[str, Any]) -> Reply:
        channel, _ = _where(payload)
        now = self.clock()
        try:
            schedules = [s for s in self.all() if s.channel == channel]
            lines = []
            for schedule in schedules:
                state = self.schedules.state(schedule.id)
                record = self.records.get(state.last_job_id) if state and state.last_job_id else None
                known = state is not None and state.next_run and state.rule_key == schedule.rule.key
                next_run = state.next_run if known and state else first_run(schedule, now)
                lines.append(schedule_line(schedule, state, next_run, record))
        except StoreUnavailable:
            return Reply(STORE_DOWN.replace("nothing was changed", "I cannot list them"), outcome="error")
        return Reply(list_text(lines, self.command))

    def remove(self, cmd: grammar.ScheduleRemove, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "remove")
        try:
            self.schedules.remove(schedule.id)
        except StoreUnavailable:
            return Reply(STORE_DOWN, outcome="error")
        return Reply(
            f":wastebasket: Removed schedule {code(schedule.id)} ({escape_mrkdwn(schedule.report)}); it will not run again."
        )

    def pause(self, cmd: grammar.SchedulePause, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "pause")
        if schedule.paused:
            return Reply(
                f"Schedule {code(schedule.id)} is already paused. Resume it with {code(f'{self.command} schedule resume {schedule.id}')}."
            )
        try:
            self.schedules.set_paused(schedule, True, self.clock())
        except StoreUnavailable:
            return Reply(STORE_DOWN, outcome="error")
        return Reply(
            f":double_vertical_bar: Paused schedule {code(schedule.id)}; runs planned while paused are skipped. "
            f"Resume it with {code(f'{self.command} schedule resume {schedule.id}')}."
        )

    def resume(self, cmd: grammar.ScheduleResume, payload: Mapping[str, Any]) -> Reply:
        schedule = self.changeable(cmd.schedule_id, payload, "resume")
        if not schedule.paused:
            return Reply(f"Schedule {code(schedule.id)} is not paused; it is running as planned.")
        try:
            resumed = self.schedules.set_paused(schedule, False, self.clock())
        except StoreUnavailable:
            return Reply(STORE_DOWN, outcome="error")
        nxt = first_run(resumed, self.clock())
        return Reply(f":arrow_forward: Resumed schedule {code(schedule.id)}; next run {when(nxt, resumed)}.")

    # -- checks ----------------------------------------------------------------------------

    def all(self) -> list[Schedule]:
        static, errors = load_static_schedules(self.settings.reports_file)
        for error in errors:
            log.warning("%s", error)
        return all_schedules(self.schedules, static)

    def changeable(self, schedule_id: str, payload: Mapping[str, Any], verb: str) -> Schedule:
        """The channel's schedule `schedule_id`, if this person may `verb` it; else UserError."""
        channel, user = _where(payload)
        self.require_admin(user, verb)
        try:
            found = next((s for s in self.all() if s.id == schedule_id), None)
        except StoreUnavailable:
            raise UserError(STORE_DOWN) from None
        listing = code(f"{self.command} schedule list")
        if found is None:
            raise UserError(
                f"There is no schedule {code(schedule_id)}. {listing} shows this channel's schedules."
            )
        if found.channel != channel:
            raise UserError(
                f"Schedule {code(schedule_id)} posts in another channel (<#{escape_mrkdwn(found.channel)}>); "
                f"{verb} it from there. {listing} shows this channel's."
            )
        if found.static:
            raise UserError(
                f"Schedule {code(schedule_id)} is declared in the configuration "
                f"({code(self.settings.reports_file)}), so it cannot be {verb}d from Slack. "
                "Change it in that file and restart beat."
            )
        return found

    def require_admin(self, user: str, verb: str) -> None:
        admins = self.settings.admin_users
        if admins and user not in admins:
            who = ", ".join(f"<@{escape_mrkdwn(a)}>" for a in admins)
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

    def example(self, cmd: grammar.ScheduleAdd) -> str:
        args = " ".join(f"{k}={v}" for k, v in cmd.args.items())
        base = f"{self.command} schedule add {cmd.report}{' ' + args if args else ''}"
        every = max(self.settings.schedule_min_interval, 3600)
        return (
            f"For example {code(f'{base} every {describe_seconds(every)}')} or "
            f"{code(base + ' cron ' + chr(34) + '0 9 * * 1-5' + chr(34) + ' tz=Europe/Berlin')}."
        )


def _where(payload: Mapping[str, Any]) -> tuple[str, str]:
    return str(payload.get("channel_id", "")), str(payload.get("user_id", ""))


def install_schedule_commands(handler: CommandHandler, settings: Settings, store: Store) -> ScheduleCommands:
    """Register the schedule commands on `handler` (called from `bot.app.make_handler`)."""
    commands = ScheduleCommands(settings, handler.registry, store)
    commands.install(handler)
    return commands
