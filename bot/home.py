"""The App Home's listeners: the tab opened, and its buttons Run now, Pause, Resume and Remove.

Opening the tab publishes the Home (`tasks.schedules.home_refresh`) and remembers that this
person looks at it, so later changes are published to them too. Each button does what the
command it stands for does, through the same code: Run now queues the schedule's report for the
clicker in the schedule's channel as typing it there would (`CommandHandler.queue`: the report's
access, the job cap, one job per delivery); Pause, Resume and Remove go through
`ScheduleCommands`' own methods, so ADMIN_USERS and the configuration's schedules are refused
exactly as the typed commands refuse them. The Home has no channel, so who may act on a schedule
is what the Home lists: its owner, and admins. Anyone else (a forged click, an old Home) hears
what an unknown id would get, and nothing changes.

Every listener acks at once; the work, and the publish that shows its outcome as a notice at the
top of the Home, run after the ack (`bot.after_ack`): a views.publish is a Slack round trip, and
none of these opens a modal, so no trigger_id has to beat its 3 s expiry here. Edit and the two
form buttons belong to the forms' own listeners (same action ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import Ack, App

from bot import grammar
from bot.after_ack import AfterAck
from bot.commands import CommandHandler, Reply, answer
from bot.schedule_commands import ScheduleCommands
from bot.slack_payload import string_at
from tasks.errors import UserError
from tasks.rendering.home import (
    HOME_PAUSE_ACTION,
    HOME_REMOVE_ACTION,
    HOME_RESUME_ACTION,
    HOME_RUN_NOW_ACTION,
)
from tasks.schedules.home_refresh import mark_opened, refresh_home
from tasks.schedules.schedule import SCHEDULE_ID, Schedule
from tasks.settings import Settings
from tasks.slack.ids import valid_user_id
from tasks.slack.mrkdwn import code
from tasks.slack.web_api import WebApi
from tasks.store import StoreUnavailable

log = logging.getLogger(__name__)

__all__ = ["HomeActions", "register_home"]


class HomeActions:
    """What the Home's buttons do, and who may do it; each returns the Reply the notice shows."""

    def __init__(self, settings: Settings, handler: CommandHandler, schedules: ScheduleCommands) -> None:
        self.settings = settings
        self.handler = handler
        self.commands = schedules
        self.store = handler.records.store
        self.web_api = WebApi.for_settings(settings)  # after the ack: the usual retries

    def managed(self, schedule_id: str, user: str) -> Schedule:
        """The schedule, if `user` is its owner or an admin; else the unknown id's refusal."""
        found = None
        if SCHEDULE_ID.fullmatch(schedule_id) and user:
            found = next((s for s in self.commands.known_schedules() if s.id == schedule_id), None)
        if found is None or not (found.user == user or user in self.settings.admin_users):
            shown = code(schedule_id[:40])
            raise UserError(
                f"There is no schedule {shown} that you may manage. Your Home lists yours; "
                "a schedule is changed by the person who made it, or by an admin."
            )
        return found

    def run_now(self, schedule_id: str, user: str, *, team: str = "", trigger_id: str = "") -> Reply:
        """Queue the schedule's report now, for `user`, in the schedule's channel: the command's
        path and checks, and a delivery seen twice (its trigger_id) queues one job."""
        schedule = self.managed(schedule_id, user)
        payload = {
            "channel_id": schedule.channel,
            "user_id": user,
            "team_id": team,
            "response_url": "",
            "trigger_id": trigger_id,
        }
        return self.handler.queue(schedule.report, schedule.args, payload)

    def pause(self, schedule_id: str, user: str) -> Reply:
        schedule = self.managed(schedule_id, user)
        return self.commands.pause(grammar.SchedulePause(schedule.id), _in_its_channel(schedule, user))

    def resume(self, schedule_id: str, user: str) -> Reply:
        schedule = self.managed(schedule_id, user)
        return self.commands.resume(grammar.ScheduleResume(schedule.id), _in_its_channel(schedule, user))

    def remove(self, schedule_id: str, user: str) -> Reply:
        schedule = self.managed(schedule_id, user)
        return self.commands.remove(grammar.ScheduleRemove(schedule.id), _in_its_channel(schedule, user))

    def publish(self, user: str, notice: str = "", *, opened: bool = False) -> bool:
        """`user`'s Home as it is now, with `notice` on top; never raises."""
        return refresh_home(
            self.web_api,
            self.store,
            user,
            settings=self.settings,
            static=self.commands.static.current(),
            notice=notice,
            opened=opened,
        )


def _in_its_channel(schedule: Schedule, user: str) -> Mapping[str, Any]:
    """The payload the typed command would carry, sent from the schedule's own channel: the Home
    has no channel, and `managed` has already checked the clicker may act on this schedule."""
    return {"channel_id": schedule.channel, "user_id": user}


def register_home(
    app: App, settings: Settings, handler: CommandHandler, schedules: ScheduleCommands, after_ack: AfterAck
) -> HomeActions:
    """Add the App Home's listeners to `app` (from `bot.app.build_app`)."""
    home = HomeActions(settings, handler, schedules)

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        # Acked by Bolt (events are); the publish runs after the ack, so Slack never retries it.
        user = valid_user_id(string_at(event, "user"))
        if string_at(event, "tab") != "home" or not user:
            return

        def opened() -> None:
            try:
                mark_opened(home.store, user)
            except StoreUnavailable as exc:  # this opening still shows; later changes may not
                log.warning("App Home of %s: not remembered as opened: %s", user, exc)
            home.publish(user, opened=True)

        after_ack.run(opened, "App Home opened")

    def button(action_id: str, work: Callable[[str, str, dict[str, Any]], Reply]) -> None:
        @app.action(action_id)
        def on_click(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            user = valid_user_id(string_at(body, "user", "id"))
            schedule_id = string_at(body, "actions", 0, "value")[:100]
            if not user:
                return

            def then() -> None:
                reply = answer(lambda: work(schedule_id, user, body), what=f"Home button {action_id}")
                # A schedule command's own after-steps refresh the Homes it changed (the owner's,
                # the admins'); then the clicker's, with the answer on top, is published last.
                reply.run_after(log)
                if action_id == HOME_RUN_NOW_ACTION:
                    handler.settle_records()  # the queued job's record, so the Home lists it
                home.publish(user, reply.text)

            after_ack.run(then, f"Home button {action_id}")

    button(
        HOME_RUN_NOW_ACTION,
        lambda sid, user, body: home.run_now(
            sid, user, team=string_at(body, "team", "id"), trigger_id=string_at(body, "trigger_id")
        ),
    )
    button(HOME_PAUSE_ACTION, lambda sid, user, body: home.pause(sid, user))
    button(HOME_RESUME_ACTION, lambda sid, user, body: home.resume(sid, user))
    button(HOME_REMOVE_ACTION, lambda sid, user, body: home.remove(sid, user))
    return home
