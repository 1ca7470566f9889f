"""The one place that turns jobs and report results into Slack messages.

Everything a user sees about a job (status line, result, error) is built here as Block Kit
(slack_sdk's models, so Slack's limits are checked before sending) plus a plain-text fallback.
Pure functions: tests call them directly.
"""

from __future__ import annotations

import base64
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
    SectionBlock,
)

from tasks.jobs import Job
from tasks.mrkdwn import code, escape_mrkdwn
from tasks.slack_ids import user_mention

SECTION_LIMIT = 3000  # characters of one section's text
MAX_BLOCKS = 50  # blocks in one message
TEXT_LIMIT = 40_000  # characters of a message's text; Slack truncates beyond


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
        from tasks.reports.results import File

        data = json.loads(raw)
        files = [File(f["name"], base64.b64decode(f["content"]), title=f["title"]) for f in data["files"]]
        return cls(text=data["text"], blocks=data["blocks"], files=files)


STATE_ICONS = {
    "queued": ":inbox_tray:",
    "running": ":hourglass_flowing_sand:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
}


def describe_args(args: dict[str, str]) -> str:
    """`key=value` pairs as typed, escaped, for status lines and acks."""
    if not args:
        return ""
    return code(" ".join(f'{k}="{v}"' if (" " in v or v == "") else f"{k}={v}" for k, v in args.items()))


def describe_request(job: Job) -> str:
    """"*sales* `region=emea`": what was asked for, safe to show."""
    args = describe_args(job.args)
    name = f"*{escape_mrkdwn(job.report)}*"
    return f"{name} {args}" if args else name


def _outcome(state: str, duration: float) -> str:
    """"succeeded in 1.5 s", "failed after 120 ms": a finished job's state and run time."""
    return f"{state} {'in' if state == 'succeeded' else 'after'} {format_duration(duration)}"


def _capped_text(text: str) -> str:
    """A message's fallback text within what Slack keeps, saying where it was cut."""
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 20] + "\n… (truncated)"


def _capped_blocks(blocks: Sequence[Block | dict[str, Any]], limit: int = MAX_BLOCKS) -> list[Block | dict[str, Any]]:
    """At most `limit` blocks, the last saying that more did not fit."""
    if len(blocks) <= limit:
        return list(blocks)
    more = ContextBlock(elements=[MarkdownTextObject(text="_… more of the result did not fit in one message._")])
    return [*blocks[: limit - 1], more]


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


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
    if state == "running":
        where = "running…"
    elif state == "queued":
        where = "queued"
    elif state == "cancelled" and cancelled_by:
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
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=line[:SECTION_LIMIT])),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
    ]
    buttons = job_buttons(job, state)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"job_{job.id}", elements=buttons))
    text = f"{escape_mrkdwn(job.report)}: {where} (job {job.id})"
    return Rendered(text=text, blocks=blocks)


def digest_message(job: Job, state: str, result: Rendered, duration: float) -> Rendered:
    """A schedule's run as its one message in the channel: the result (or the error) itself,
    then a context line naming the schedule, how it went and the job, and Run again.

    A digest is posted to a channel that did not ask for it just now, so it is the message
    people read, not a status line with the content in a thread; and nobody needs a "running"
    message or a Cancel button for it. One message also spends one of the channel's
    chat.postMessage allowance (about one a second) instead of two, and no chat.update, for
    every channel a schedule posts to. Not naming the schedule's creator keeps each run from
    notifying them.
    """
    icon = STATE_ICONS.get(state, "")
    where = _outcome(state, duration)
    line = (
        f"{icon} {describe_request(job)} (schedule `{escape_mrkdwn(job.schedule_id)}`): {where} · job `{job.id}`"
    )
    blocks = _capped_blocks(result.blocks, MAX_BLOCKS - 2)  # room for the context line and the buttons
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
    blocks.append(ActionsBlock(block_id=f"job_{job.id}", elements=job_buttons(job, state)))
    heading = f"{escape_mrkdwn(job.report)} (schedule {escape_mrkdwn(job.schedule_id)}, {where}): "
    return Rendered(text=_capped_text(heading + result.text), blocks=blocks, files=result.files)


# The action_ids of the status message's buttons; the bot's interactivity listeners match them.
CANCEL_ACTION = "reportbot_cancel"
RERUN_ACTION = "reportbot_rerun"


def job_buttons(job: Job, state: str) -> list[ButtonElement]:
    """Cancel while a job can still be stopped; Run again once it is over. Value: the job id."""
    if state in ("queued", "running"):
        confirm = ConfirmObject(
            title="Cancel this job?",
            text=f"Job `{job.id}` stops now and its result is not posted.",
            confirm="Cancel job",
            deny="Keep it running",
        )
        return [ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=job.id, style="danger", confirm=confirm)]
    if state in ("succeeded", "failed", "cancelled"):
        return [ButtonElement(text="Run again", action_id=RERUN_ACTION, value=job.id)]
    return []


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut text into section-sized pieces, at line breaks where it can."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def text_result(text: str) -> Rendered:
    """Mrkdwn text as sections, within Slack's block and length limits, never rejected."""
    text = text if text.strip() else "_(the report returned nothing)_"
    pieces = split_text(text)
    if len(pieces) > MAX_BLOCKS:
        shown = pieces[: MAX_BLOCKS - 1]
        omitted = sum(len(p) for p in pieces[MAX_BLOCKS - 1 :])
        shown.append(f"_… {omitted:,} more characters not shown._")
        pieces = shown
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=p)) for p in pieces]
    return Rendered(text=_capped_text(text), blocks=blocks)


def render_result(result: Any, name: str = "result") -> Rendered:
    """A report's return value as a thread reply. Plain `str` is mrkdwn from the report author.

    Tables, charts and files (``tasks.reports.results``), alone or several in a list, become
    blocks plus ``files`` to attach; ``name`` (the report's) names the attachments.
    """
    if isinstance(result, Rendered):
        return result
    if result is None:
        return text_result("")
    if isinstance(result, str):
        return text_result(result)
    if isinstance(result, list | tuple) or type(result).__module__ == "tasks.reports.results":
        return rich_result(result, name)
    return text_result(escape_mrkdwn(str(result)))


def rich_result(result: Any, name: str = "result") -> Rendered:
    """Text, tables, charts and files as one thread reply: one table block at most (Slack's
    rule), the rest of the tables as monospace; every table as CSV, every chart as PNG."""
    from tasks.charts import chart_file
    from tasks.reports.results import Chart, File, Table, parts_of
    from tasks.tables import csv_file, file_stem, render_table

    blocks: list[Block] = []
    texts: list[str] = []
    files: list[Any] = []
    stems: dict[str, int] = {}

    def stem_for(title: str | None, kind: str) -> str:
        base = file_stem(title, name) if title else file_stem(name, kind)
        stems[base] = stems.get(base, 0) + 1
        return base if stems[base] == 1 else f"{base}-{stems[base]}"

    table_block_used = False
    for part in parts_of(result):
        if isinstance(part, Table):
            part_blocks, fallback = render_table(part, use_block=not table_block_used)
            table_block_used = table_block_used or any(b.type == "table" for b in part_blocks)
            blocks.extend(part_blocks)
            texts.append(fallback)
            files.append(csv_file(part, stem_for(part.title, "table")))
        elif isinstance(part, Chart):
            chart = chart_file(part, stem_for(part.title, "chart"))
            files.append(chart)
            line = f":bar_chart: {escape_mrkdwn(chart.title or chart.name)}: {part.type} chart attached below."
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
            texts.append(f"{escape_mrkdwn(chart.title or chart.name)} ({part.type} chart attached)")
        elif isinstance(part, File):
            files.append(part)
            line = f":paperclip: `{escape_mrkdwn(part.name)}` attached below."
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:SECTION_LIMIT])]))
            texts.append(f"{escape_mrkdwn(part.name)} attached")
        else:
            text = part if isinstance(part, str) else escape_mrkdwn(str(part))
            rendered = text_result(text)
            blocks.extend(rendered.blocks)
            texts.append(rendered.text)
    if not blocks:
        return text_result("")
    text = "\n\n".join(t for t in texts if t)
    return Rendered(text=_capped_text(text), blocks=_capped_blocks(blocks), files=files)


def error_result(message: str) -> Rendered:
    """A short, clear error for the thread; the trace stays in the worker's log."""
    text = f":warning: {message}"
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT]))])
