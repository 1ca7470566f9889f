"""A form for every report: the "Run a report" modal, its ways in, and what submitting it does.

Ways in: the global shortcut (`SHORTCUT_RUN`), a Run… button (`RUN_FORM_ACTION`, value: a
report's name or ""; in help and on the App Home), and `/run-report <report>` typed without a
required argument, which opens the form with what was typed filled in instead of refusing.

Submitting checks exactly what the command checks, with the command's own code: each value by
`Param.convert` (errors under its field), then `CommandHandler.queue`, the one way a job is
queued from Slack (access, the job cap, one job per delivery, the same publisher and records).
The job runs in the channel picked in the form, or the one it was opened from; the person is
told privately there what was queued.

With the schedule form installed (`bot.schedule_form`), the form has a Schedule… button: that
form's own button (`SCHEDULE_FORM_ACTION`, value "report:<name>"), whose listener pushes the
schedule form over this one.

Every listener acks at once. `views.open` must use its trigger_id within 3 s of the click, so
it runs on the after-ack pool (`bot.after_ack`) right after the ack, not queued behind slower
work; the ack itself is a few microseconds. A submission is answered in its ack (errors, or
closing the modal), so its validation and publish run before the ack, as a command's do.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot import grammar, replies
from bot.after_ack import AfterAck
from bot.argument_inputs import plain_text, typed_args
from bot.commands import CommandHandler, Reply, answer
from bot.manifest import SHORTCUT_RUN
from bot.report_form_view import (
    CALLBACK_ID,
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    REPORT_ACTION,
    REPORT_BLOCK,
    FormContext,
    read_metadata,
    report_form_view,
)
from bot.slack_payload import string_at, submission_delivery
from tasks.errors import UserError
from tasks.jobs.access import Access, AccessDenied, GroupLookupFailed, make_access, may_run
from tasks.rendering.messages import RUN_FORM_ACTION, SCHEDULE_FORM_ACTION
from tasks.reports import ArgumentError, Registry, Report
from tasks.reports import registry as default_registry
from tasks.slack.ids import requester, valid_channel_id, valid_user_id
from tasks.slack.mrkdwn import code, join_or
from tasks.slack.web_api import WebApi

__all__ = ["RUN_FORM_ACTION", "SHORTCUT_RUN", "ReportForm", "install_report_form", "open_report_form"]

log = logging.getLogger(__name__)

# The most time the group lookups of one picker may take (inside the trigger's 3 s); reports
# past it are listed unchecked and checked, as always, when the form is submitted.
PICKER_LOOKUP_BUDGET = 1.0
_VIEW_ID = re.compile(r"V[A-Z0-9]{1,31}")
_QUEUED = ("queued", "replayed")
_HELP_SECTION = 3000


def _web_api(client_or_webapi: WebApi | WebClient) -> WebApi:
    return client_or_webapi if isinstance(client_or_webapi, WebApi) else WebApi(client_or_webapi)


def reports_for(
    registry: Registry,
    access: Access,
    user: str,
    channel: str,
    *,
    budget: float = PICKER_LOOKUP_BUDGET,
    clock: Callable[[], float] = time.monotonic,
) -> list[Report]:
    """The reports `user` may run in `channel` (tasks.jobs.access), or in some channel when
    there is none yet (the shortcut, the Home tab): the picker offers only those."""
    chosen: list[Report] = []
    deadline = clock() + budget
    for report in registry.all():
        checked = report if channel else dataclasses.replace(report, channels=())
        if may_run(checked, channel, user):
            chosen.append(report)
        elif checked.groups and (not checked.channels or channel in checked.channels):
            if clock() > deadline:
                chosen.append(report)  # no time to ask Slack: checked on submission
                continue
            try:
                access.check(checked, channel, user)
                chosen.append(report)
            except AccessDenied:
                pass
            except GroupLookupFailed:
                chosen.append(report)
    return chosen


def open_report_form(
    client_or_webapi: WebApi | WebClient,
    trigger_id: str,
    *,
    user: str,
    channel: str,
    report: str | None = None,
    typed: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    access: Access | None = None,
    command: str = "/run-report",
) -> dict[str, Any]:
    """`views.open` the report form for `user`, run in `channel` by default ("" to make them
    pick one), starting at `report` (if installed) with `typed` filled in. The opened view, as
    Slack returns it; Slack's errors (an expired trigger_id) are raised as slack_sdk raises them.
    `registry` defaults to the process's reports; `access` to one asking Slack for user groups."""
    web = _web_api(client_or_webapi)
    registry = registry if registry is not None else default_registry
    access = access or make_access(lambda: web)
    reports = reports_for(registry, access, user, channel)
    chosen = registry.get(report) if report else None
    view = report_form_view(
        reports,
        FormContext(channel=channel),
        chosen=chosen,
        typed=typed,
        command=command,
        schedule_button=True,
    )
    return web.open_view(trigger_id, view.to_dict())


def help_blocks(text: str, report: str = "") -> list[dict[str, Any]]:
    """Help's answer as blocks: its text, then Run… and Schedule… buttons that open the report
    form and the schedule form (at `report`)."""
    sections: list[str] = []
    for line in text.split("\n"):
        if sections and len(sections[-1]) + 1 + len(line) <= _HELP_SECTION:
            sections[-1] += "\n" + line
        else:
            sections.append(line[:_HELP_SECTION])
    blocks = [SectionBlock(text=MarkdownTextObject(text=s)).to_dict() for s in sections if s.strip()]
    run = ButtonElement(text="Run…", action_id=RUN_FORM_ACTION, value=report)
    schedule = ButtonElement(
        text="Schedule…", action_id=SCHEDULE_FORM_ACTION, value=f"report:{report}" if report else ""
    )
    blocks.append(ActionsBlock(block_id="help_actions", elements=[run, schedule]).to_dict())
    return blocks


class ReportForm:
    """The form's listeners' work, over the command handler's reports, access and queue."""

    def __init__(self, handler: CommandHandler, web: WebApi, after_ack: AfterAck) -> None:
        self.handler = handler
        self.registry = handler.registry
        self.web = web
        self.after_ack = after_ack
        self.command = handler.command
        self.schedule_button = True

    # ------------------------------------------------------------------ opening

    def open(
        self,
        trigger_id: str,
        *,
        user: str,
        channel: str,
        report: str | None = None,
        typed: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """`open_report_form` with this bot's reports and access."""
        return open_report_form(
            self.web,
            trigger_id,
            user=user,
            channel=channel,
            report=report,
            typed=typed,
            registry=self.registry,
            access=self.handler.access,
            command=self.command,
        )

    def open_after_ack(self, body: Mapping[str, Any], report: str, channel: str, what: str) -> None:
        """Open the form for a click or a shortcut, right after its ack (the trigger lasts 3 s)."""
        user = valid_user_id(string_at(body, "user", "id"))
        trigger_id = string_at(body, "trigger_id")
        if not user or not trigger_id:
            log.info("%s without a user or trigger_id: no form", what)
            return
        response_url = string_at(body, "response_url")
        self.after_ack.run(
            lambda: self._open_quietly(trigger_id, user, channel, report, what, response_url), what
        )

    def _open_quietly(
        self, trigger_id: str, user: str, channel: str, report: str, what: str, response_url: str = ""
    ) -> None:
        try:
            self.open(trigger_id, user=user, channel=channel, report=report or None)
        except Exception as exc:  # an expired trigger, Slack refusing the view: never silence
            log.warning("%s: the report form did not open: %s", what, _why(exc))
            replies.tell_form_not_opened(self.web, response_url, what)

    def on_run_command(self, cmd: grammar.RunReport, payload: Mapping[str, Any]) -> Reply:
        """`/run-report <report> …`: queued as always, unless a required argument is missing and
        everything typed is right; then the form opens with what was typed filled in."""
        report = self.registry.require(cmd.report, command=self.command)
        missing = [p.name for p in report.params if p.required and p.name not in cmd.args]
        trigger_id = string_at(payload, "trigger_id")
        if not missing or not trigger_id or any(report.param(key) is None for key in cmd.args):
            return self.handler.queue(cmd.report, cmd.args, payload)
        who = requester(payload)
        self.handler.access.check(report, who.channel, who.user)
        for key, value in cmd.args.items():  # a wrong value is answered as the command answers it
            param = report.param(key)
            assert param is not None
            param.convert(value)
        try:
            report.convert_args(cmd.args)
            refusal = ""
        except ArgumentError as exc:
            refusal = exc.message  # what the command says; shown if the form cannot open
        response_url = string_at(payload, "response_url")
        typed = dict(cmd.args)

        def open_form() -> None:
            try:
                self.open(trigger_id, user=who.user, channel=who.channel, report=report.name, typed=typed)
            except (SlackApiError, OSError) as exc:
                log.warning("the report form did not open: %s", _why(exc))
                if response_url and refusal:
                    self.web.respond_ephemeral(response_url, refusal)

        needs = join_or([code(name) for name in missing])
        return Reply(
            f":memo: Opening a form for {code(report.name)}: fill in {needs} there.",
            after=[open_form],
            outcome="form",
        )

    def wrap_help(
        self, help_handler: Callable[[Any, Mapping[str, Any]], Reply]
    ) -> Callable[[Any, Mapping[str, Any]], Reply]:
        """Help as before, with a Run… button under it (at the report, for `help <report>`)."""

        def on_help(cmd: grammar.Help, payload: Mapping[str, Any]) -> Reply:
            reply = help_handler(cmd, payload)
            reply.blocks = help_blocks(
                reply.text, cmd.report if cmd.report and cmd.report in self.registry else ""
            )
            return reply

        return on_help

    # ------------------------------------------------------------------ in the form

    def on_pick(self, body: Mapping[str, Any]) -> None:
        """A report was chosen: the form shows its arguments (`views.update`, with the view's
        hash, so an older update never overwrites a newer one). Runs after the ack."""
        view = body.get("view") if isinstance(body.get("view"), Mapping) else {}
        assert isinstance(view, Mapping)
        view_id = string_at(view, "id")
        user = valid_user_id(string_at(body, "user", "id"))
        if not _VIEW_ID.fullmatch(view_id) or not user:
            return
        context = read_metadata(string_at(view, "private_metadata"), self.registry)
        values = _state_values(view)
        chosen = self.registry.get(string_at(body, "actions", 0, "selected_option", "value"))
        picked = valid_channel_id(string_at(values, CHANNEL_BLOCK, CHANNEL_ACTION, "selected_conversation"))
        reports = reports_for(self.registry, self.handler.access, user, picked or context.channel)
        new_view = report_form_view(
            reports,
            context,
            chosen=chosen,
            picked_channel=picked,
            command=self.command,
            schedule_button=self.schedule_button,
        )
        try:
            self.web.update_view(view_id, new_view.to_dict(), string_at(view, "hash") or None)
        except SlackApiError as exc:  # hash_conflict: a later pick is on its way, and wins
            log.info("report form not updated: %s", exc.response.get("error"))

    def on_submit(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], Callable[[], None] | None]:
        """A submitted form: (what to ack with, what to do after the ack). The ack is
        `response_action: errors` keyed by block_id, or `update` with the form of the report
        picked when the form still showed another, or nothing (the modal closes) once queued."""
        view = body.get("view") if isinstance(body.get("view"), Mapping) else {}
        assert isinstance(view, Mapping)
        user = valid_user_id(string_at(body, "user", "id"))
        context = read_metadata(string_at(view, "private_metadata"), self.registry)
        values = _state_values(view)
        report = self.registry.get(string_at(values, REPORT_BLOCK, REPORT_ACTION, "selected_option", "value"))
        if report is None:
            return _errors({REPORT_BLOCK: "Choose a report to run."}), None
        picked = valid_channel_id(string_at(values, CHANNEL_BLOCK, CHANNEL_ACTION, "selected_conversation"))
        channel = picked or context.channel
        if report.name != context.report:  # its arguments never showed: show them, if it may run
            reports = reports_for(self.registry, self.handler.access, user, channel)
            if report in reports:
                again = report_form_view(
                    reports, context, chosen=report, picked_channel=picked, command=self.command,
                    schedule_button=self.schedule_button,
                )  # fmt: skip
                return {"response_action": "update", "view": again.to_dict()}, None
        if not channel:
            return _errors({CHANNEL_BLOCK: "Choose the channel the report should post in."}), None
        args, errors = typed_args(report, values)
        if errors:
            return _errors(errors), None
        payload = {
            "channel_id": channel,
            "user_id": user,
            "team_id": string_at(body, "team", "id"),
            "response_url": "",
            "trigger_id": submission_delivery(body),  # the guard's key: one job per form
        }
        refused: list[UserError] = []

        def work() -> Reply:
            try:
                return self.handler.queue(report.name, args, payload)
            except UserError as exc:
                refused.append(exc)
                raise

        reply = answer(work, what="report form")
        if reply.outcome not in _QUEUED:
            block = _refusal_block(report, channel, refused[0] if refused else None)
            return _errors({block: plain_text(reply.text)}), None
        return {}, lambda: self._tell(channel, user, reply)

    def _tell(self, channel: str, user: str, reply: Reply) -> None:
        """After the ack: the person hears privately, in the job's channel, what was queued (by
        direct message if the bot may not post there), and the queue's own after-ack work runs."""
        try:
            self.web.post_ephemeral(channel, user, reply.text)
        except SlackApiError as exc:
            log.info(
                "could not tell %s in %s what the form queued (%s); by DM instead",
                user,
                channel,
                exc.response.get("error"),
            )
            try:
                self.web.post_message(user, reply.text)
            except SlackApiError as again:
                log.warning("could not tell %s what the form queued: %s", user, again.response.get("error"))
        reply.run_after(log)


def _why(exc: Exception) -> str:
    """Slack's error code, or the kind of a connection failure: one short line for the log."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


def _state_values(view: Mapping[str, Any]) -> Mapping[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    return values if isinstance(values, Mapping) else {}


def _errors(errors: Mapping[str, str]) -> dict[str, Any]:
    return {"response_action": "errors", "errors": dict(errors)}


def _refusal_block(report: Report, channel: str, refusal: UserError | None) -> str:
    """Which field a refusal belongs under: the channel when the report may not run there."""
    if isinstance(refusal, AccessDenied) and report.channels and channel not in report.channels:
        return CHANNEL_BLOCK
    return REPORT_BLOCK


def install_report_form(app: App, handler: CommandHandler, after_ack: AfterAck, web: WebApi) -> ReportForm:
    """Add the form's listeners to `app`, and hook the command: a missing required argument
    opens the form, and help gets its Run… button (from build_app)."""
    form = ReportForm(handler, web, after_ack)
    handler.register(grammar.RunReport, form.on_run_command)
    help_handler = handler.handler_for(grammar.Help)
    if help_handler is not None:
        handler.register(grammar.Help, form.wrap_help(help_handler))

    @app.shortcut(SHORTCUT_RUN)
    def on_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        form.open_after_ack(body, "", "", "Run a report shortcut")  # a global shortcut has no channel

    @app.action(RUN_FORM_ACTION)
    def on_run_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        # A button in a message carries its channel; one in the Home tab does not.
        channel = valid_channel_id(string_at(body, "channel", "id"))
        form.open_after_ack(body, string_at(body, "actions", 0, "value")[:64], channel, "Run… button")

    @app.action(REPORT_ACTION)
    def on_pick(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        after_ack.run(lambda: form.on_pick(body), "report form: pick")

    @app.view(CALLBACK_ID)
    def on_submit(ack: Ack, body: dict[str, Any]) -> None:
        response, after = form.on_submit(body)
        ack(**response)
        if after is not None:
            after_ack.run(after, "report form: submitted")

    return form
