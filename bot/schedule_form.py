"""The schedule form: a modal to add or edit a schedule without typing the command's grammar.

A "Schedule…" button (action `SCHEDULE_FORM_ACTION`, in `schedule list`, the App Home, the report
form or a digest's menu) opens it: its value is "" for a new schedule, "report:<name>" to start
with that report, or a schedule id to edit. Every field redraws the form (`views.update`, with the
view's hash so an older redraw never overwrites a newer one) so the preview of the next three
runs follows what is entered. Submitting goes through the same steps as `schedule add`
(`ScheduleCommands.check_report`, `check_rule`, `save_new`), so the admin rule, access to the
report, its arguments, the shortest interval, the limits and the once-per-delivery guard all
apply unchanged; what fails is shown under its field (`response_action: errors`).

Editing is allowed to whoever may remove the schedule (`ScheduleCommands.changeable`, from the
channel the schedule posts in); opened where there is no channel (the App Home), to its creator
and the admins. Static schedules (from the reports file) are refused with the reason.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import replies
from bot.after_ack import AfterAck
from bot.argument_inputs import arg_block_id, plain_text, shown_params
from bot.schedule_commands import ScheduleCommands
from bot.schedule_form_view import (
    CALLBACK_ID,
    FIELD_PREFIX,
    MAX_ARGS,
    FieldError,
    FormContext,
    FormState,
    form_view,
    message_view,
    preview_text,
    read_args,
    read_state,
    rule_block,
    rule_of,
    state_of,
)
from bot.schedule_views import added_text, describe_rule, shown_at, what
from bot.slack_payload import string_at, submission_delivery
from tasks.errors import UserError
from tasks.rendering.messages import SCHEDULE_FORM_ACTION
from tasks.reports import Report
from tasks.schedules.schedule import (
    DEFAULT_MISFIRE,
    SCHEDULE_ID,
    Schedule,
    ScheduleError,
    first_run,
    new_schedule_id,
)
from tasks.slack.ids import valid_channel_id, valid_user_id
from tasks.slack.mrkdwn import code
from tasks.slack.web_api import WebApi
from tasks.store import StoreUnavailable

__all__ = ["SCHEDULE_FORM_ACTION", "ScheduleForm", "open_schedule_form", "register_schedule_form"]

log = logging.getLogger(__name__)

#: The button's value that starts the form with a report picked: "report:<name>".
REPORT_PREFIX = "report:"
#: Where a refusal of who may do this, or of what cannot be saved, is shown in the form.
GENERAL_BLOCK = "report"


@dataclass(frozen=True)
class Submitted:
    """The answer to a submission: errors per block, or the view saying what was saved."""

    errors: dict[str, str] | None = None
    view: dict[str, Any] | None = None
    #: What to do once Slack has the ack: republish the Homes the change shows in.
    after: list[Callable[[], None]] = field(default_factory=list)


class ScheduleForm:
    """Draws, redraws and saves the form, over the schedule commands' own checks and store."""

    def __init__(
        self, commands: ScheduleCommands, web_api: WebApi, clock: Callable[[], float] = time.time
    ) -> None:
        self.commands = commands
        self.web_api = web_api
        self.clock = clock

    # -- drawing ---------------------------------------------------------------------------

    def view_for(
        self,
        *,
        user: str,
        channel: str,
        schedule_id: str | None = None,
        report: str | None = None,
        args: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The form for a new schedule (`report`/`args` picked in advance) or for editing
        `schedule_id`; a view that says why not when this person may not."""
        try:
            if schedule_id:
                schedule = self.editable(schedule_id, user, channel)
                return self.render(state_of(schedule), FormContext(schedule.id, channel))
            self.commands.require_admin(user, "add")
            picked = report if report and self.commands.registry.get(report) else ""
            state = FormState(
                report=picked,
                args={k: v for k, v in (args or {}).items()} if picked else {},
                tz=self.commands.default_zone(user),
                channel=valid_channel_id(channel),
            )
            return self.render(state, FormContext("", valid_channel_id(channel)))
        except UserError as exc:
            return message_view("Schedules", exc.message)

    def render(self, state: FormState, context: FormContext) -> dict[str, Any]:
        """The form for `state`, with its preview computed now."""
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        min_interval = self.commands.settings.schedule_min_interval
        preview = preview_text(state, min_interval, now)
        reports = sorted(self.commands.registry.all(), key=lambda r: r.name)
        return form_view(state, context, reports=reports, preview=preview, min_interval=min_interval)

    def open(
        self,
        trigger_id: str,
        *,
        user: str,
        channel: str,
        schedule_id: str | None = None,
        report: str | None = None,
        args: Mapping[str, str] | None = None,
        push: bool = False,
    ) -> None:
        """Open the form on a click's trigger (or push it over the modal clicked in)."""
        view = self.view_for(user=user, channel=channel, schedule_id=schedule_id, report=report, args=args)
        if push:
            self.web_api.push_view(trigger_id, view)
        else:
            self.web_api.open_view(trigger_id, view)

    def redraw(self, body: Mapping[str, Any]) -> None:
        """Redraw the form after a field changed (block_actions from inside it)."""
        if string_at(body, "view", "callback_id") != CALLBACK_ID:
            return
        view_id = string_at(body, "view", "id")
        context = FormContext.load(string_at(body, "view", "private_metadata"))
        state = read_state(_values(body), self.commands.registry)
        view = self.render(state, context)
        try:
            self.web_api.update_view(view_id, view, string_at(body, "view", "hash") or None)
        except Exception as exc:  # a newer redraw won (hash_conflict), or the modal closed
            log.info("schedule form not redrawn: %s", type(exc).__name__)

    # -- saving ----------------------------------------------------------------------------

    def submit(self, body: Mapping[str, Any]) -> Submitted:
        """Check and save the form; errors per field, or the view saying what was saved."""
        user = valid_user_id(string_at(body, "user", "id"))
        context = FormContext.load(string_at(body, "view", "private_metadata"))
        values = _values(body)
        state = read_state(values, self.commands.registry)
        try:
            return self._save(user, context, state, values, submission_delivery(body))
        except FieldError as exc:
            return Submitted(errors={exc.block_id: plain_text(exc.message)})
        except UserError as exc:
            return Submitted(errors={GENERAL_BLOCK: plain_text(exc.message)})
        except StoreUnavailable as exc:
            log.warning("schedule form: store unavailable: %s", exc)
            return Submitted(errors={GENERAL_BLOCK: plain_text(replies.store_down())})

    def _save(
        self, user: str, context: FormContext, state: FormState, values: Mapping[str, Any], delivery: str
    ) -> Submitted:
        before = self.editable(context.schedule_id, user, context.channel) if context.schedule_id else None
        if before is None:
            self.commands.require_admin(user, "add")
        now = self.clock()
        errors = self.field_errors(state, values, now)
        if errors:
            return Submitted(errors=errors)
        report = self.commands.registry.require(state.report)
        rule = rule_of(state)
        runs = self.commands.check_rule(rule, now)
        args = {k: v for k, v in state.args.items() if report.param(k) is not None}
        channel = state.channel
        try:  # the command's own check, as a whole: admin rule, access here, the arguments together
            self.commands.check_report(user, channel, report.name, args)
        except UserError as exc:
            raise FieldError(_report_field(exc, report), exc.message) from None
        try:
            if before is not None:
                saved = self.commands.save_edit(
                    before, replace(before, report=report.name, args=args, rule=rule, channel=channel), now
                )
                return Submitted(
                    view=message_view(
                        "Schedule saved", edited_text(saved, first_run(saved, now), self.commands.command)
                    ),
                    after=self.commands.refresh_homes(user, saved.user),
                )
            schedule = Schedule(
                id=new_schedule_id(),
                report=report.name,
                args=args,
                rule=rule,
                channel=channel,
                user=user,
                misfire=DEFAULT_MISFIRE,
                created_at=now,
                since=now,
            )
            first = self.commands.save_new(schedule, delivery)
        except ScheduleError as exc:  # a limit: of this person or of the channel
            raise FieldError("channel", exc.message) from None
        shown = replace(schedule, id=first) if first else schedule
        where = f"in <#{channel}>"
        return Submitted(
            view=message_view("Schedule saved", added_text(shown, runs, self.commands.command, where=where)),
            after=[] if first else self.commands.refresh_homes(user),
        )

    def field_errors(self, state: FormState, values: Mapping[str, Any], now: float) -> dict[str, str]:
        """What is wrong, field by field, so one submission names every field to fix: the
        report, each argument on its own, the rule (as `schedule add` checks it), the channel."""
        report = self.commands.registry.get(state.report) if state.report else None
        errors = read_args(report, values)[1]
        if report is None:
            errors["report"] = "Pick a report."
        try:
            self.commands.check_rule(rule_of(state), now)
        except FieldError as exc:
            errors[exc.block_id] = plain_text(exc.message)
        except ScheduleError as exc:
            errors[rule_block(state)] = plain_text(exc.message)
        if not state.channel:
            errors["channel"] = "Pick the channel it posts in."
        return errors

    # -- who may edit ------------------------------------------------------------------------

    def editable(self, schedule_id: str, user: str, channel: str) -> Schedule:
        """The schedule `schedule_id` if `user` may edit it from `channel`; else UserError.

        From a channel, the rule is the one `schedule remove` applies there. From no channel
        (the App Home), the schedule's creator and the admins may, in the schedule's channel.
        """
        listing = code(f"{self.commands.command} schedule list")
        unknown = UserError(
            f"There is no schedule {code(schedule_id[:40])} I can change for you here. {listing} in "
            "a channel shows its schedules."
        )
        if not SCHEDULE_ID.fullmatch(schedule_id) or not user:
            raise unknown
        if channel:
            return self.commands.changeable(schedule_id, {"channel_id": channel, "user_id": user}, "edit")
        found = next((s for s in self.commands.known_schedules() if s.id == schedule_id), None)
        admins = self.commands.settings.admin_users
        if found is None or not (found.user == user or user in admins):
            raise unknown
        return self.commands.changeable(schedule_id, {"channel_id": found.channel, "user_id": user}, "edit")


def edited_text(schedule: Schedule, next_run: float | None, command: str) -> str:
    """What the form says once an edit is saved: the new definition and when it runs next."""
    head = f":pencil2: Schedule {code(schedule.id)} now runs {what(schedule)} {describe_rule(schedule)} in <#{schedule.channel}>"
    if schedule.paused:
        return f"{head}. It stays paused: {code(f'{command} schedule resume {schedule.id}')} resumes it."
    return f"{head}; next run {shown_at(next_run, schedule)}."


def _report_field(exc: UserError, report: Report) -> str:
    """The field a refusal of the report's check belongs to: the argument it names, if any."""
    for param in shown_params(report, MAX_ARGS):
        if code(param.name) in exc.message:
            return arg_block_id(report.name, param.name)
    return "report"


def _values(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The view's `state.values`, or {} for anything not shaped like them."""
    view = body.get("view")
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values") if isinstance(state, Mapping) else None
    return values if isinstance(values, Mapping) else {}


#: The app's form, once `register_schedule_form` installed it: what `open_schedule_form` opens
#: for a caller that holds only a Web API client (the digest menu, the App Home).
_installed: list[ScheduleForm] = []


def open_schedule_form(
    via: ScheduleForm | WebApi | WebClient,
    trigger_id: str,
    *,
    user: str,
    channel: str,
    schedule_id: str | None = None,
    report: str | None = None,
    args: Mapping[str, str] | None = None,
    push: bool = False,
    commands: ScheduleCommands | None = None,
) -> None:
    """Open (or, with `push`, stack on the modal clicked in) the schedule form on `trigger_id`:
    a new schedule (starting at `report` with `args`), or the one `schedule_id` to edit; a view
    saying why not when `user` may not. The form checks who may, whoever calls this.

    `via` is the app's `ScheduleForm`, or the Web API client to make the views calls with; the
    schedules are then those of `commands`, else of the form the app installed. Slack's errors
    (an expired trigger_id) are raised as slack_sdk raises them.
    """
    if isinstance(via, ScheduleForm):
        form = via
    else:
        web = WebApi(via) if isinstance(via, WebClient) else via
        if commands is None and not _installed:
            raise RuntimeError("the schedule form is not installed; bot.app.build_app installs it")
        form = ScheduleForm(commands or _installed[-1].commands, web)
    form.open(
        trigger_id, user=user, channel=channel, schedule_id=schedule_id, report=report, args=args, push=push
    )


def button_target(value: str) -> tuple[str | None, str | None]:
    """(schedule id to edit, report to pick) from a `SCHEDULE_FORM_ACTION` button's value."""
    if value.startswith(REPORT_PREFIX):
        return None, value[len(REPORT_PREFIX) :][:100] or None
    if value and SCHEDULE_ID.fullmatch(value):
        return value, None
    return None, None


def register_schedule_form(app: App, form: ScheduleForm, after_ack: AfterAck) -> None:
    """The form's listeners: the button that opens it, its fields, its submission."""
    _installed[:] = [form]  # the latest app's: one bot process builds one app

    @app.action(SCHEDULE_FORM_ACTION)
    def on_open(ack: Ack, body: dict[str, Any]) -> None:
        schedule_id, report = button_target(string_at(body, "actions", 0, "value"))
        user = valid_user_id(string_at(body, "user", "id"))
        channel = valid_channel_id(string_at(body, "channel", "id"))
        trigger_id = string_at(body, "trigger_id")
        push = string_at(body, "view", "type") == "modal"  # clicked in a modal: stack on it
        response_url = string_at(body, "response_url")
        ack()

        def open_form() -> None:
            try:
                form.open(
                    trigger_id, user=user, channel=channel, schedule_id=schedule_id, report=report, push=push
                )
            except Exception as exc:  # an expired trigger, Slack refusing the view: never silence
                log.warning("schedule form did not open: %s", type(exc).__name__)
                replies.tell_form_not_opened(form.web_api, response_url, "schedule form")

        # views.open right after the ack, on the after-ack pool: the trigger lives 3 s, and the
        # ack (sent when this listener returns) must not wait for users.info and the view.
        after_ack.run(open_form, "schedule form")

    @app.action(re.compile("^" + re.escape(FIELD_PREFIX)))
    def on_field(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        after_ack.run(lambda: form.redraw(body), "schedule form field")

    @app.view(CALLBACK_ID)
    def on_submit(ack: Ack, body: dict[str, Any]) -> None:
        # Checked and saved before the ack: its errors can only be shown by the ack itself.
        try:
            submitted = form.submit(body)
        except Exception:
            log.exception("schedule form submission failed")
            ack(response_action="errors", errors={GENERAL_BLOCK: plain_text(replies.SORRY)})
            return
        if submitted.errors:
            ack(response_action="errors", errors=submitted.errors)
            return
        ack(response_action="update", view=submitted.view)
        for step in submitted.after:
            after_ack.run(step, "schedule form")
