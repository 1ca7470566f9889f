"""The "Run a report" modal, as slack_sdk's View: the report picker, the channel, the arguments.

Choosing a report (the picker dispatches its action) swaps in that report's inputs
(`bot.argument_inputs`) with `views.update`; submitting queues the job (`bot.report_form`).
The form's own context, the channel it was opened from and the report shown, travels in
`private_metadata`, read back through `read_metadata`, which trusts none of it. Pure: the
listeners that open, update and submit it are `bot.report_form`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import PlainTextObject
from slack_sdk.models.views import View

from bot.argument_inputs import OPTION_TEXT_LIMIT, argument_blocks
from bot.slack_payload import metadata_object
from tasks.rendering.messages import SCHEDULE_FORM_ACTION
from tasks.reports import Registry, Report
from tasks.slack.ids import valid_channel_id
from tasks.slack.mrkdwn import code, escape_mrkdwn

__all__ = [
    "CALLBACK_ID",
    "CHANNEL_ACTION",
    "CHANNEL_BLOCK",
    "FormContext",
    "REPORT_ACTION",
    "REPORT_BLOCK",
    "SCHEDULE_FORM_ACTION",
    "read_metadata",
    "report_form_view",
]

CALLBACK_ID = "report_form"
REPORT_BLOCK = "report_pick"
REPORT_ACTION = "report_form.pick"
CHANNEL_BLOCK = "run_channel"
CHANNEL_ACTION = "report_form.channel"
ACTIONS_BLOCK = "report_form_actions"
MAX_REPORT_OPTIONS = 100
SECTION_LIMIT = 3000


@dataclass(frozen=True)
class FormContext:
    """What the form carries between Slack's requests: the channel it was opened from ("" from
    the global shortcut or the App Home) and the report it shows ("" before one is picked)."""

    channel: str = ""
    report: str = ""

    def to_metadata(self) -> str:
        return json.dumps({"channel": self.channel, "report": self.report}, separators=(",", ":"))


def read_metadata(text: str, registry: Registry) -> FormContext:
    """The form's context from its `private_metadata`: an id that is not a channel id, or a
    report that is not installed, is dropped, so nothing read here is used unchecked.

    >>> read_metadata('{"channel": "C1> <!here>", "report": "nope"}', Registry())
    FormContext(channel='', report='')
    """
    data = metadata_object(text)
    report = data.get("report")
    return FormContext(
        channel=valid_channel_id(data.get("channel")),
        report=report if isinstance(report, str) and report in registry else "",
    )


def _report_option(report: Report) -> Option:
    text = report.name + (f": {report.help}" if report.help else "")
    if len(text) > OPTION_TEXT_LIMIT:
        text = text[: OPTION_TEXT_LIMIT - 1] + "…"
    return Option(value=report.name, text=PlainTextObject(text=text))


def _picker(reports: Sequence[Report], chosen: Report | None) -> tuple[InputBlock, list[Block]]:
    """The report select (at most 100 options, the chosen one always among them) and a note
    when some reports did not fit."""
    shown = list(reports[:MAX_REPORT_OPTIONS])
    if chosen is not None and chosen not in shown:
        shown[-1] = chosen
    options = [_report_option(r) for r in shown]
    initial = next((o for o in options if chosen is not None and o.value == chosen.name), None)
    block = InputBlock(
        block_id=REPORT_BLOCK,
        label=PlainTextObject(text="Report"),
        element=StaticSelectElement(
            action_id=REPORT_ACTION,
            placeholder=PlainTextObject(text="Choose a report"),
            options=options,
            initial_option=initial,
        ),
        dispatch_action=True,  # choosing one sends block_actions, and the form shows its arguments
    )
    notes: list[Block] = []
    if len(reports) > len(shown):
        notes.append(
            _note(
                f"_{len(reports) - len(shown)} more reports do not fit in this list; "
                "type their name after the command to run them._"
            )
        )
    return block, notes


def _channel_input(context: FormContext, picked: str) -> InputBlock:
    """Where the job posts. Opened from a channel, that channel is the default and may stay
    empty; from the global shortcut or the Home tab there is none, so it must be picked."""
    initial = picked or (context.channel if context.channel[:1] in ("C", "G") else "")
    return InputBlock(
        block_id=CHANNEL_BLOCK,
        label=PlainTextObject(text="Post in"),
        element=ConversationSelectElement(
            action_id=CHANNEL_ACTION,
            placeholder=PlainTextObject(text="Choose a channel"),
            initial_conversation=initial or None,
            filter=ConversationFilter(include=["public", "private"]),
        ),
        hint=PlainTextObject(text="The job's status message and its result are posted there."),
        optional=bool(context.channel),
    )


def _note(mrkdwn: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=mrkdwn[:SECTION_LIMIT])])


def _report_blocks(
    report: Report, typed: Mapping[str, str], today: dt.date | None, command: str, schedule_button: bool
) -> list[Block]:
    about = f"*{escape_mrkdwn(report.name)}*: {escape_mrkdwn(report.help or 'no description')}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=about[:SECTION_LIMIT]))]
    inputs, left_out = argument_blocks(report, typed, today=today)
    blocks += inputs
    if not report.params:
        blocks.append(_note("_It takes no arguments._"))
    if left_out:
        blocks.append(
            _note(
                f"_{left_out} more optional arguments do not fit in this form and keep their "
                f"defaults; {code(f'{command} help {report.name}')} lists them all, and typing the "
                "command sets any of them._"
            )
        )
    if schedule_button:
        blocks.append(
            ActionsBlock(
                block_id=ACTIONS_BLOCK,
                elements=[
                    ButtonElement(
                        text="Schedule…", action_id=SCHEDULE_FORM_ACTION, value=f"report:{report.name}"
                    )
                ],
            )
        )
    return blocks


def report_form_view(
    reports: Sequence[Report],
    context: FormContext,
    *,
    chosen: Report | None = None,
    typed: Mapping[str, str] | None = None,
    picked_channel: str = "",
    today: dt.date | None = None,
    command: str = "/run-report",
    schedule_button: bool = False,
) -> View:
    """The modal for `reports` (those the person may run), showing `chosen`'s arguments
    prefilled with `typed` (as after the command) or their defaults. `picked_channel` keeps the
    channel already chosen when the view is rebuilt for another report."""
    context = replace(context, report=chosen.name if chosen is not None else "")
    if not reports and chosen is None:
        return View(
            type="modal",
            callback_id=CALLBACK_ID,
            title="Run a report",
            close="Close",
            private_metadata=context.to_metadata(),
            blocks=[SectionBlock(text=MarkdownTextObject(text="There are no reports you may run here."))],
        )
    picker, notes = _picker(reports, chosen)
    blocks: list[Block] = [picker, *notes, _channel_input(context, picked_channel)]
    if chosen is not None:
        blocks += _report_blocks(chosen, typed or {}, today, command, schedule_button)
    else:
        blocks.append(_note("_Choose a report to see its arguments._"))
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title="Run a report",
        submit="Run",
        close="Cancel",
        private_metadata=context.to_metadata(),
        blocks=blocks,
    )
