"""A digest's menu and its Retry button, as Bolt listeners: Run now, Pause, Edit, Remove.

A digest (a schedule's run, `tasks.rendering.messages.digest_message`) carries an overflow
menu whose options' values are `<choice>:<schedule id>`, and a failed one a Retry button whose
value is the schedule id. Each does what a command does, through that command's own code, so a
click can do nothing the command could not:

| click      | same as                                       | checked by                        |
| ---------- | --------------------------------------------- | --------------------------------- |
| Run now    | `/run-report <report> <args>` in the channel  | `CommandHandler.queue`: access     |
| Retry      | the same, for a failed run                    | the same                          |
| Pause      | `schedule pause <id>`                         | `ScheduleCommands.pause`          |
| Edit       | the schedule form (`bot.schedule_form`)       | `ScheduleCommands.changeable`     |
| Remove     | `schedule remove <id>`, after a confirm       | `ScheduleCommands.remove`         |

Run now and Retry queue a run of the schedule (posted as its digest, counted in its failures in
a row) for the person who clicked, in the channel they clicked in, which must be the schedule's:
a schedule is seen and changed from the channel it posts in, as with `schedule list`.

An overflow's confirm dialog would stand in front of every option, so Remove asks in an
ephemeral message whose one button (with Slack's confirm dialog) removes the schedule.

Every listener acks at once; its work runs right after the ack on `AfterAck` and answers the
clicker privately through the click's response_url. Edit's views.open runs there too, as the
pool's first job for that click: the trigger_id Slack gave the click works for 3 s, and the
check before it is one Redis read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from bot import grammar
from bot.after_ack import AfterAck
from bot.commands import CommandHandler, Reply, answer
from bot.schedule_commands import ScheduleCommands
from bot.slack_payload import string_at
from tasks.errors import UserError
from tasks.rendering.messages import DIGEST_MENU_ACTION, DIGEST_MENU_CHOICES, DIGEST_RETRY_ACTION
from tasks.schedules.schedule import SCHEDULE_ID, Schedule
from tasks.slack.ids import is_team_id, valid_channel_id, valid_user_id
from tasks.slack.mrkdwn import code, escape_mrkdwn
from tasks.slack.web_api import WebApi

log = logging.getLogger(__name__)

#: The button of Remove's question, which removes the schedule (after Slack's confirm dialog).
DIGEST_REMOVE_ACTION = "reportbot_digest_remove"
_CHOICES = {choice for choice, _ in DIGEST_MENU_CHOICES}


@dataclass
class Prompt(Reply):
    """An answer with buttons: Remove's question."""

    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Click:
    """One click on a digest: which schedule, who, where, and what answers it. Ids that are
    not shaped like Slack's are "", so nothing odd reaches a check, the store or mrkdwn."""

    schedule_id: str
    user: str
    channel: str
    team: str = ""
    response_url: str = ""
    trigger_id: str = ""

    @classmethod
    def of(cls, body: dict[str, Any], value: str) -> Click:
        return cls(
            schedule_id=value if SCHEDULE_ID.fullmatch(value) else "",
            user=valid_user_id(string_at(body, "user", "id")),
            channel=valid_channel_id(string_at(body, "channel", "id")),
            team=string_at(body, "team", "id") if is_team_id(string_at(body, "team", "id")) else "",
            response_url=string_at(body, "response_url"),
            trigger_id=string_at(body, "trigger_id"),
        )

    def payload(self) -> dict[str, str]:
        """The keys a command's payload has, for the command handlers the click stands for."""
        return {
            "channel_id": self.channel,
            "user_id": self.user,
            "team_id": self.team,
            "response_url": self.response_url,
            "trigger_id": self.trigger_id,
        }


class DigestMenu:
    """What each click does, through the commands' own checks."""

    def __init__(self, handler: CommandHandler, schedules: ScheduleCommands, slack: WebApi) -> None:
        self.handler = handler
        self.schedules = schedules
        self.slack = slack
        self.command = handler.command

    def run_now(self, click: Click) -> Reply:
        """Queue a run of the schedule now, for the clicker, as the command would queue it."""
        schedule = self.in_channel(click)
        return self.handler.queue(schedule.report, schedule.args, click.payload(), schedule_id=schedule.id)

    def pause(self, click: Click) -> Reply:
        """`schedule pause`, whose reply also refreshes the Homes it changes (after the answer)."""
        return self.schedules.pause(grammar.SchedulePause(self.known_id(click)), click.payload())

    def remove(self, click: Click) -> Reply:
        return self.schedules.remove(grammar.ScheduleRemove(self.known_id(click)), click.payload())

    def ask_remove(self, click: Click) -> Reply:
        """Remove asks first, if the clicker may remove the schedule at all."""
        schedule = self.schedules.changeable(self.known_id(click), click.payload(), "remove")
        text, blocks = remove_question(schedule)
        return Prompt(text, blocks=blocks)

    def edit(self, click: Click) -> Reply:
        """Open the schedule form on this schedule, if the clicker may change it; an empty
        answer when the form is open (it is the answer)."""
        schedule = self.schedules.changeable(self.known_id(click), click.payload(), "change")
        try:
            from bot.schedule_form import open_schedule_form  # type: ignore[import-not-found, unused-ignore]
        except ImportError:  # an installation without the forms: the commands still do it
            return Reply(
                f"Change schedule {code(schedule.id)} by removing it "
                f"({code(f'{self.command} schedule remove {schedule.id}')}) and adding it again "
                f"with {code(f'{self.command} schedule add')}."
            )
        open_schedule_form(
            self.slack,
            click.trigger_id,
            user=click.user,
            channel=click.channel,
            schedule_id=schedule.id,
            commands=self.schedules,
        )
        return Reply("")

    def known_id(self, click: Click) -> str:
        """The click's schedule id; a value that is not one gets the words of an unknown id."""
        if not click.schedule_id:
            raise self.unknown("?")
        return click.schedule_id

    def in_channel(self, click: Click) -> Schedule:
        """The clicked schedule, if it posts in the channel clicked in; else as if unknown."""
        schedule_id = self.known_id(click)
        found = next((s for s in self.schedules.known_schedules() if s.id == schedule_id), None)
        if found is None or found.channel != click.channel:
            raise self.unknown(schedule_id)
        return found

    def unknown(self, schedule_id: str) -> UserError:
        return UserError(
            f"There is no schedule {code(schedule_id)} in this channel any more. "
            f"{code(f'{self.command} schedule list')} shows this channel's schedules."
        )


def remove_question(schedule: Schedule) -> tuple[str, list[dict[str, Any]]]:
    """Remove's question: what goes, and a button that removes it after Slack's confirm."""
    what = f"schedule {code(schedule.id)} (*{escape_mrkdwn(schedule.report)}*)"
    text = f"Remove {what}? It will not run again; the messages it posted stay."
    confirm = ConfirmObject(
        title="Remove this schedule?",
        text=f"Schedule {schedule.id} stops for good.",
        confirm="Remove",
        deny="Keep it",
        style="danger",
    )
    button = ButtonElement(
        text="Remove schedule",
        action_id=DIGEST_REMOVE_ACTION,
        value=schedule.id,
        style="danger",
        confirm=confirm,
    )
    blocks = [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]
    return text, [b.to_dict() for b in blocks]


def _answer_privately(reply: Reply, respond: Respond) -> None:
    """The clicker's answer, seen by them alone; nothing when there is nothing to say."""
    blocks = reply.blocks if isinstance(reply, Prompt) else None
    try:
        if reply.text:
            respond(text=reply.text, blocks=blocks, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the response_url may be used up or expired; the work is done
        log.warning("could not answer a click on a digest: %s", exc)
    reply.run_after(log)


def register_digest_menu(app: App, menu: DigestMenu, after_ack: AfterAck) -> None:
    """Add the digest's menu, Retry and Remove's confirm listeners to `app`."""

    @app.action(DIGEST_MENU_ACTION)
    def on_menu(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        choice, _, schedule_id = string_at(body, "actions", 0, "selected_option", "value").partition(":")
        click = Click.of(body, schedule_id)
        ack()
        if choice not in _CHOICES:
            after_ack.run(
                lambda: _answer_privately(Reply("That menu option is not one I know."), respond), "menu"
            )
            return
        after_ack.run(lambda: _on_choice(menu, choice, click, respond), f"digest menu {choice}")

    @app.action(DIGEST_RETRY_ACTION)
    def on_retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        click = Click.of(body, string_at(body, "actions", 0, "value"))
        ack()
        after_ack.run(
            lambda: _answer_privately(answer(lambda: menu.run_now(click), what="Retry button"), respond),
            "Retry",
        )

    @app.action(DIGEST_REMOVE_ACTION)
    def on_remove(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        click = Click.of(body, string_at(body, "actions", 0, "value"))
        ack()
        after_ack.run(
            lambda: _answer_privately(answer(lambda: menu.remove(click), what="Remove button"), respond),
            "Remove",
        )


def _on_choice(menu: DigestMenu, choice: str, click: Click, respond: Respond) -> None:
    work = {"run": menu.run_now, "pause": menu.pause, "remove": menu.ask_remove, "edit": menu.edit}[choice]
    _answer_privately(answer(lambda: work(click), what=f"digest menu {choice}"), respond)


def install_digest_menu(
    app: App, handler: CommandHandler, schedules: ScheduleCommands, slack: WebApi, after_ack: AfterAck
) -> DigestMenu:
    """Build the menu over the commands' handlers and register its listeners (from build_app)."""
    menu = DigestMenu(handler, schedules, slack)
    register_digest_menu(app, menu, after_ack)
    return menu
