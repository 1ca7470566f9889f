"""The one place that turns jobs and report results into Slack messages.

Everything a user sees about a job (status line, result, error) is built here as Block Kit
(slack_sdk's models, so Slack's limits are checked before sending) plus a plain-text fallback.
Pure functions: tests call them directly.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    SectionBlock,
)

from tasks.durations import format_duration
from tasks.jobs.records import FINAL_STATES, Job, JobState
from tasks.rendering.charts import chart_file
from tasks.rendering.limits import MAX_BLOCKS, SECTION_LIMIT, TEXT_LIMIT
from tasks.rendering.tables import csv_file, file_stem, render_table
from tasks.reports.results import Chart, File, MayNotify, Table, parts_of
from tasks.slack.ids import user_mention
from tasks.slack.mrkdwn import code, escape_mrkdwn, without_broadcasts


@dataclass
class Rendered:
    """A message ready for chat.postMessage: blocks, fallback text and files to attach."""

    text: str
    blocks: list[Block | dict[str, Any]] = field(default_factory=list)
    files: list[Any] = field(default_factory=list)

    def block_dicts(self) -> list[dict[str, Any]]:
        return [b if isinstance(b, dict) else b.to_dict() for b in self.blocks]

    def to_json(self) -> str:
        """Kept while a job waits out Slack's rate limit, so its retry posts the same result
        without running the report again."""
        files = [
            {"name": f.name, "title": f.title, "content": base64.b64encode(bytes(f.content)).decode()}
            for f in self.files
        ]
        return json.dumps({"text": self.text, "blocks": self.block_dicts(), "files": files})

    @classmethod
    def from_json(cls, raw: str) -> Rendered:
        data = json.loads(raw)
        files = [File(f["name"], base64.b64decode(f["content"]), title=f["title"]) for f in data["files"]]
        return cls(text=data["text"], blocks=data["blocks"], files=files)


STATE_ICONS: dict[str, str] = {
    JobState.QUEUED: ":inbox_tray:",
    JobState.RUNNING: ":hourglass_flowing_sand:",
    JobState.SUCCEEDED: ":white_check_mark:",
    JobState.FAILED: ":x:",
    JobState.CANCELLED: ":no_entry_sign:",
    JobState.SKIPPED: ":fast_forward:",
}


def describe_args(args: dict[str, str]) -> str:
    """`key=value` pairs as typed, escaped, for status lines and acks."""
    if not args:
        return ""
    return code(" ".join(f'{k}="{v}"' if (" " in v or v == "") else f"{k}={v}" for k, v in args.items()))


def describe_request(job: Job) -> str:
    """ "*sales* `region=emea`": what was asked for, safe to show."""
    args = describe_args(job.args)
    name = f"*{escape_mrkdwn(job.report)}*"
    return f"{name} {args}" if args else name


def _outcome(state: str, duration: float) -> str:
    """ "succeeded in 1.5 s", "failed after 120 ms": a finished job's state and run time."""
    return f"{state} {'in' if state == JobState.SUCCEEDED else 'after'} {format_duration(duration)}"


def _capped_text(text: str) -> str:
    """A message's fallback text within what Slack keeps, saying where it was cut."""
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 20] + "\n… (truncated)"


def _capped_blocks(
    blocks: Sequence[Block | dict[str, Any]], limit: int = MAX_BLOCKS
) -> list[Block | dict[str, Any]]:
    """At most `limit` blocks, the last saying that more did not fit."""
    if len(blocks) <= limit:
        return list(blocks)
    more = ContextBlock(
        elements=[MarkdownTextObject(text="_… more of the result did not fit in one message._")]
    )
    return [*blocks[: limit - 1], more]


def status_message(
    job: Job,
    state: str,
    *,
    duration: float | None = None,
    note: str = "",
    cancelled_by: str = "",
) -> Rendered:
    """The status message in the channel: who asked for what, and where the job stands.

    While the job can still be stopped it carries a Cancel button; once it is over, Run again.
    `note` is a line of mrkdwn shown under it, escaped by the caller.
    """
    icon = STATE_ICONS.get(state, "")
    who = user_mention(job.user, unknown="Someone")
    origin = f" (schedule `{escape_mrkdwn(job.schedule_id)}`)" if job.schedule_id else ""
    if state == JobState.RUNNING:
        where = "running…"
    elif state == JobState.QUEUED:
        where = "queued"
    elif state == JobState.CANCELLED and cancelled_by:
        where = f"cancelled by {user_mention(cancelled_by)}"
        if duration is not None:
            where += f" after {format_duration(duration)}"
    elif duration is not None:
        where = _outcome(state, duration)
    else:
        where = state
    line = f"{icon} {who} ran {describe_request(job)}{origin}: {where}"
    if note:
        line += f"\n{note}"
    context = f"job `{job.id}`"
    blocks: list[Block | dict[str, Any]] = [
        SectionBlock(text=MarkdownTextObject(text=line[:SECTION_LIMIT])),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
    ]
    buttons = job_buttons(job, state)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"job_{job.id}", elements=buttons))
    text = f"{escape_mrkdwn(job.report)}: {where} (job {job.id})"
    return Rendered(text=text, blocks=blocks)


def digest_message(job: Job, state: str, result: Rendered, duration: float) -> Rendered:
    """A schedule's run as its one message in the channel: the result itself, then a context
    line naming the schedule, how it went and the job, and the schedule's menu (`digest_actions`).

    A digest is posted to a channel that did not ask for it just now, so it is the message
    people read, not a status line with the content in a thread; and nobody needs a "running"
    message or a Cancel button for it. One message also spends one of the channel's
    chat.postMessage allowance (about one a second) instead of two, and no chat.update, for
    every channel a schedule posts to. Not naming the schedule's creator keeps each run from
    notifying them.

    A failed run is one short message (`digest_failure`): the reason as the worker words it
    (never the exception's text), with Retry.
    """
    if state == JobState.FAILED:
        return digest_failure(job, result, duration)
    icon = STATE_ICONS.get(state, "")
    where = _outcome(state, duration)
    line = f"{icon} {describe_request(job)} (schedule `{escape_mrkdwn(job.schedule_id)}`): {where} · job `{job.id}`"
    blocks = _capped_blocks(result.blocks, MAX_BLOCKS - 2)  # room for the context line and the menu
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
    blocks.append(digest_actions(job, state))
    heading = f"{escape_mrkdwn(job.report)} (schedule {escape_mrkdwn(job.schedule_id)}, {where}): "
    return Rendered(text=_capped_text(heading + result.text), blocks=blocks, files=result.files)


# How much of a failed digest's reason its message shows: one short line, not a report's page.
FAILURE_REASON_LIMIT = 300


def digest_failure(job: Job, result: Rendered, duration: float) -> Rendered:
    """A failed digest run: one short message with the reason (`error_result`'s words: a
    report author's `UserError`, or the error's kind and where the log has it), Retry and the
    schedule's menu. No files, no result: there is none."""
    reason = result.text.strip() or ":warning: The report failed."
    if len(reason) > FAILURE_REASON_LIMIT:
        reason = reason[: FAILURE_REASON_LIMIT - 1] + "…"
    where = _outcome(JobState.FAILED, duration)
    line = (
        f"{STATE_ICONS[JobState.FAILED]} {describe_request(job)} (schedule `{escape_mrkdwn(job.schedule_id)}`) "
        f"{where}.\n{reason}"
    )
    blocks: list[Block | dict[str, Any]] = [
        SectionBlock(text=MarkdownTextObject(text=line[:SECTION_LIMIT])),
        ContextBlock(elements=[MarkdownTextObject(text=f"job `{job.id}`")]),
        digest_actions(job, JobState.FAILED),
    ]
    text = f"{escape_mrkdwn(job.report)} (schedule {escape_mrkdwn(job.schedule_id)}) {where} (job {job.id})"
    return Rendered(text=text, blocks=blocks)


def skip_result(reason: str) -> Rendered:
    """What a skipped run's status message says under it (a command's run; a digest posts
    nothing): the report's reason, as mrkdwn from its author, without broadcasts."""
    shown = without_broadcasts(reason.strip()[:FAILURE_REASON_LIMIT]) or "the report had nothing to say"
    return Rendered(text=f"_Skipped: {shown}_")


# The digest's menu and Retry: the bot's listeners match these action ids (`bot.digest_menu`).
DIGEST_MENU_ACTION = "reportbot_digest_menu"
DIGEST_RETRY_ACTION = "reportbot_digest_retry"
# What each menu option does; the option's value is `<choice>:<schedule id>`.
DIGEST_MENU_CHOICES: tuple[tuple[str, str], ...] = (
    ("run", "Run now"),
    ("pause", "Pause"),
    ("edit", "Edit"),
    ("remove", "Remove…"),
)


def digest_actions(job: Job, state: str) -> ActionsBlock:
    """Retry (a failed run) and the schedule's menu: Run now, Pause, Edit, Remove. Each is checked
    by the bot against the rules of the command that does the same thing; Remove asks first."""
    menu = OverflowMenuElement(
        action_id=DIGEST_MENU_ACTION,
        options=[
            Option(text=label, value=f"{choice}:{job.schedule_id}") for choice, label in DIGEST_MENU_CHOICES
        ],
    )
    elements: list[ButtonElement | OverflowMenuElement] = [menu]
    if state == JobState.FAILED:
        retry = ButtonElement(
            text="Retry", action_id=DIGEST_RETRY_ACTION, value=job.schedule_id, style="primary"
        )
        elements.insert(0, retry)
    return ActionsBlock(block_id=f"digest_{job.id}", elements=elements)


# The action_ids of the status message's buttons; the bot's interactivity listeners match them.
CANCEL_ACTION = "reportbot_cancel"
RERUN_ACTION = "reportbot_rerun"
#: The buttons that open the forms (`bot.report_form`, `bot.schedule_form` listen for them), in
#: help, the Home tab and digests. The report form's value is a report name or ""; the schedule
#: form's is a schedule id to edit, "" for a new one, or "report:<name>" to start with a report.
RUN_FORM_ACTION = "report_form.open"
SCHEDULE_FORM_ACTION = "schedule_form.open"


def job_buttons(job: Job, state: str) -> list[ButtonElement]:
    """Cancel while a job can still be stopped; Run again once it is over. Value: the job id."""
    if state in (JobState.QUEUED, JobState.RUNNING):
        confirm = ConfirmObject(
            title="Cancel this job?",
            text=f"Job `{job.id}` stops now and its result is not posted.",
            confirm="Cancel job",
            deny="Keep it running",
        )
        return [
            ButtonElement(
                text="Cancel", action_id=CANCEL_ACTION, value=job.id, style="danger", confirm=confirm
            )
        ]
    if state in FINAL_STATES:
        return [ButtonElement(text="Run again", action_id=RERUN_ACTION, value=job.id)]
    return []


def _sections(text: str, limit: int, count: int) -> tuple[list[str], int]:
    """Up to ``count`` pieces of at most ``limit`` characters from the start of ``text``, cut at
    line breaks where it can, and where the text not in them starts (``len(text)`` if none is
    left). Each cut looks at one piece's worth of text, so this costs what is shown, not the
    length of the text."""
    pieces: list[str] = []
    start, end = 0, len(text)
    while start < end and len(pieces) < count:
        if end - start <= limit:
            pieces.append(text[start:end])
            return pieces, end
        cut = text.rfind("\n", start, start + limit)
        if cut <= start:
            cut = start + limit
        pieces.append(text[start:cut])
        start = cut
        while start < end and text[start] == "\n":
            start += 1
    return pieces, start


# Enough of a text to fill every section of a message: a longer text is cut to this before
# anything else is done with it, so a result of any size is rendered in the same time.
SHOWN_LIMIT = MAX_BLOCKS * SECTION_LIMIT


def text_result(text: str, *, name: str = "result", notify: bool = False, room: int = MAX_BLOCKS) -> Rendered:
    """Mrkdwn text as at most ``room`` sections and a fallback, within Slack's limits, never
    rejected. Broadcast mentions are shown as text unless the report may ``notify``.

    A text that does not fit shows its beginning, and the whole of it is attached as
    ``<name>.txt``; the message says so.
    """
    if not text or text.isspace():
        text = "_(the report returned nothing)_"
    shown = text[:SHOWN_LIMIT] if notify else without_broadcasts(text[:SHOWN_LIMIT])
    pieces, end = _sections(shown, SECTION_LIMIT, room)
    if end >= len(shown) and len(text) <= SHOWN_LIMIT:
        blocks: list[Block | dict[str, Any]] = [SectionBlock(text=MarkdownTextObject(text=p)) for p in pieces]
        return Rendered(text=_capped_text(shown), blocks=blocks)
    attached = _whole_text(text, file_stem(name, "result"))
    pieces = pieces[: max(room - 1, 0)]
    note = (
        f"_… the rest did not fit in one message: the full text ({len(text):,} characters) "
        f"is attached as `{escape_mrkdwn(attached.name)}`._"
    )
    blocks = [SectionBlock(text=MarkdownTextObject(text=p)) for p in (*pieces, note)]
    ending = f"\n… (cut: the full text is attached as {escape_mrkdwn(attached.name)})"
    return Rendered(text=shown[: TEXT_LIMIT - len(ending)] + ending, blocks=blocks, files=[attached])


def render_result(result: Any, name: str = "result") -> Rendered:
    """A report's return value as a thread reply. Plain `str` is mrkdwn from the report author.

    Tables, charts and files (``tasks.reports.results``), alone or several in a list, become
    blocks plus ``files`` to attach; ``name`` (the report's) names the attachments. Broadcast
    mentions (``<!channel>``, ``<!here>``, user groups) are shown as text, wherever they are,
    unless the result is ``MayNotify`` (its report was declared with ``notify=True``).
    """
    notify = isinstance(result, MayNotify)
    if notify:
        result = result.result
    if isinstance(result, Rendered):
        return result if notify else _without_broadcasts(result)
    if result is None:
        return text_result("", name=name, notify=notify)
    if isinstance(result, str):
        return text_result(result, name=name, notify=notify)
    if isinstance(result, list | tuple | Table | Chart | File):
        return rich_result(result, name, notify=notify)
    return text_result(escape_mrkdwn(str(result)), name=name, notify=notify)


def rich_result(result: Any, name: str = "result", *, notify: bool = False) -> Rendered:
    """Text, tables, charts and files as one thread reply: one table block at most (Slack's
    rule), the rest of the tables as monospace; every table as CSV, every chart as PNG.

    Once the message is full, later parts are not rendered: their files are still attached,
    and a text is attached whole."""
    blocks: list[Block | dict[str, Any]] = []
    texts: list[str] = []
    files: list[Any] = []
    stems: dict[str, int] = {}

    def stem_for(title: str | None, kind: str) -> str:
        base = file_stem(title, name) if title else file_stem(name, kind)
        stems[base] = stems.get(base, 0) + 1
        return base if stems[base] == 1 else f"{base}-{stems[base]}"

    def say(fallback: str) -> None:
        if sum(map(len, texts)) < TEXT_LIMIT:
            texts.append(fallback)

    table_block_used = unshown = False
    for part in parts_of(result):
        room = MAX_BLOCKS - 1 - len(blocks)  # one kept to say that the rest is in the files
        unshown = unshown or room < 1
        if isinstance(part, Table):
            files.append(csv_file(part, stem_for(part.title, "table")))
            if room >= 1:
                part_blocks, fallback = render_table(part, use_block=not table_block_used, notify=notify)
                table_block_used = table_block_used or any(b.type == "table" for b in part_blocks)
                blocks.extend(part_blocks)
                say(fallback)
        elif isinstance(part, Chart):
            chart = chart_file(part, stem_for(part.title, "chart"))
            files.append(chart)
            if room >= 1:
                title = escape_mrkdwn(chart.title or chart.name)
                line = f":bar_chart: {title}: {part.type} chart attached below."
                blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
                say(f"{title} ({part.type} chart attached)")
        elif isinstance(part, File):
            files.append(part)
            if room >= 1:
                line = f":paperclip: `{escape_mrkdwn(part.name)}` attached below."
                blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
                say(f"{escape_mrkdwn(part.name)} attached")
        else:
            text = part if isinstance(part, str) else escape_mrkdwn(str(part))
            stem = stem_for(None, "text")
            if room < 1:
                if text and not text.isspace():
                    files.append(_whole_text(text, stem))
                continue
            rendered = text_result(text, name=stem, notify=notify, room=room)
            blocks.extend(rendered.blocks)
            files.extend(rendered.files)
            say(rendered.text)
    if not blocks:
        return text_result("", name=name)
    if unshown:
        rest = "_… more of the result did not fit in one message: it is in the files attached below._"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=rest)]))
    text = "\n\n".join(t for t in texts if t)
    if not notify:
        files = [_file_without_broadcasts(f) for f in files]
    return Rendered(text=_capped_text(text), blocks=_capped_blocks(blocks), files=files)


def _whole_text(text: str, stem: str) -> File:
    """A report's text as an attachment, for when it does not fit in a message."""
    return File(f"{stem}.txt", text.encode("utf-8", "replace"), title=f"{stem} (full text)")


def _file_without_broadcasts(file: File) -> File:
    """A file whose name and title, shown in the thread, cannot notify anyone; its content is
    the report's, exactly."""
    title = without_broadcasts(file.title) if file.title else file.title
    return dataclasses.replace(file, name=without_broadcasts(file.name), title=title)


def _without_broadcasts(message: Rendered) -> Rendered:
    """A message built by a report itself, with every string in it stripped of broadcasts."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return without_broadcasts(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    files = [_file_without_broadcasts(f) for f in message.files]
    return Rendered(text=walk(message.text), blocks=walk(message.block_dicts()), files=files)


def error_result(message: str) -> Rendered:
    """A short, clear error for the thread; the trace stays in the worker's log."""
    text = f":warning: {without_broadcasts(message)}"
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT]))])
