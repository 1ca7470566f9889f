"""The App Home: a person's schedules and recent jobs, with the buttons that act on them.

Pure: `home_view` takes what the store holds (schedules, their run states and last jobs, the
person's recent job records) and returns a slack_sdk `View` of type "home", so tests read the
view without Slack or Redis. Loading and publishing it is `tasks.slack.home_refresh`'s job.

Everything a person typed (report arguments, zones are ours to check but still escaped) is
escaped before it is shown; instants are Slack `<!date^…>` stamps, so each reader sees their own
zone. A Home tab holds at most 100 blocks: a schedule takes two (its text, its buttons), so past
`MAX_SCHEDULES_SHOWN` the list stops and says how many more there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from tasks.jobs.records import JobRecord
from tasks.rendering.limits import SECTION_LIMIT
from tasks.rendering.messages import RUN_FORM_ACTION, SCHEDULE_FORM_ACTION, STATE_ICONS, describe_args
from tasks.slack.ids import is_channel_id
from tasks.slack.mrkdwn import code, date_stamp, escape_mrkdwn

if TYPE_CHECKING:  # types only: schedules import the worker, which imports rendering
    from tasks.schedules.schedule import RunState, Schedule

__all__ = [
    "HOME_PAUSE_ACTION",
    "HOME_REMOVE_ACTION",
    "HOME_RESUME_ACTION",
    "HOME_RUN_NOW_ACTION",
    "MAX_BLOCKS",
    "MAX_SCHEDULES_SHOWN",
    "RECENT_JOBS",
    "RUN_FORM_ACTION",
    "SCHEDULE_FORM_ACTION",
    "ScheduleRow",
    "home_view",
    "message_link",
]

#: The Home's own buttons; each value is a schedule id. The bot's listeners (`bot.home`) take them.
HOME_RUN_NOW_ACTION = "home.run_now"
HOME_PAUSE_ACTION = "home.pause"
HOME_RESUME_ACTION = "home.resume"
HOME_REMOVE_ACTION = "home.remove"

#: Slack's limit of blocks in a Home tab.
MAX_BLOCKS = 100
#: Schedules listed (two blocks each), leaving room for the header, the buttons, the jobs.
MAX_SCHEDULES_SHOWN = 40
#: Recent jobs listed.
RECENT_JOBS = 10
#: Characters of one argument's value shown; the rest is cut (before escaping).
ARG_SHOWN = 80
#: Characters of a pause reason shown.
REASON_SHOWN = 200


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule as the Home shows it: the schedule, when it runs next (None: paused or
    never), its run state and last job's record, and whether this reader may change it
    (pause, resume, edit, remove) or only run it now."""

    schedule: Schedule
    next_run: float | None
    state: RunState | None = None
    last_job: JobRecord | None = None
    may_change: bool = True


def home_view(
    rows: Sequence[ScheduleRow],
    jobs: Sequence[JobRecord],
    *,
    web: str,
    notice: str = "",
    admin: bool = False,
) -> View:
    """The Home tab for one reader. `web` is Slack's web address (`tasks.slack.web_api.web_url`)
    for links to status messages; `notice` (mrkdwn we wrote, e.g. the answer to a button) is
    shown at the top; `admin` says the schedules are everyone's, not only the reader's."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Reports and schedules"))]
    if notice:
        blocks.append(SectionBlock(block_id="home_notice", text=MarkdownTextObject(text=_capped(notice))))
    blocks.append(
        ActionsBlock(
            block_id="home_forms",
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Run a report…"),
                    action_id=RUN_FORM_ACTION,
                    value="",
                    style="primary",
                ),
                ButtonElement(
                    text=PlainTextObject(text="New schedule…"), action_id=SCHEDULE_FORM_ACTION, value=""
                ),
            ],
        )
    )
    blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text=PlainTextObject(text="All schedules" if admin else "Your schedules")))
    if not rows:
        blocks.append(
            SectionBlock(
                block_id="home_no_schedules",
                text=MarkdownTextObject(
                    text="No schedules yet. *New schedule…* above makes one: a report that posts "
                    "in a channel every day, every hour or by a cron rule."
                ),
            )
        )
    for row in rows[:MAX_SCHEDULES_SHOWN]:
        blocks.extend(_schedule_blocks(row))
    if len(rows) > MAX_SCHEDULES_SHOWN:
        more = len(rows) - MAX_SCHEDULES_SHOWN
        blocks.append(
            ContextBlock(
                block_id="home_more_schedules",
                elements=[
                    MarkdownTextObject(
                        text=f"… and {more} more. Each channel's schedules are listed by "
                        f"{code('schedule list')} in that channel."
                    )
                ],
            )
        )
    blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text=PlainTextObject(text="Your recent jobs")))
    blocks.append(SectionBlock(block_id="home_jobs", text=MarkdownTextObject(text=_jobs_text(jobs, web))))
    return View(type="home", blocks=blocks[:MAX_BLOCKS])


def _schedule_blocks(row: ScheduleRow) -> list[Block]:
    schedule = row.schedule
    return [
        SectionBlock(
            block_id=f"home_schedule_{schedule.id}", text=MarkdownTextObject(text=_capped(schedule_text(row)))
        ),
        ActionsBlock(block_id=f"home_buttons_{schedule.id}", elements=_buttons(row)),
    ]


def schedule_text(row: ScheduleRow) -> str:
    """What one schedule's section says: report and arguments, rule, zone, channel, next and
    last run with how it went, and whether it is paused (and why)."""
    schedule = row.schedule
    args = describe_args({k: _shortened(v, ARG_SHOWN) for k, v in schedule.args.items()})
    head = f"*{escape_mrkdwn(schedule.report)}*" + (f" {args}" if args else "")
    head += f" in <#{schedule.channel}>" if _is_id(schedule.channel) else ""
    rule = f"{code(schedule.rule.describe())} ({escape_mrkdwn(schedule.rule.tz)}) · id {code(schedule.id)}"
    if schedule.static:
        rule += " · _from configuration_"
    if schedule.paused:
        reason = str(getattr(schedule, "paused_reason", "") or "")
        paused = ":double_vertical_bar: *Paused*"
        if reason:
            paused += f": {escape_mrkdwn(_shortened(reason, REASON_SHOWN))}"
        nxt = paused
    else:
        nxt = f"Next run: {_stamp(row.next_run, schedule.rule.tz)}"
    return f"{head}\n{rule}\n{nxt} · {_last_run(row)}"


def _last_run(row: ScheduleRow) -> str:
    state, record = row.state, row.last_job
    if state is None or state.last_run is None:
        return "last run: none yet"
    text = f"last run: {_stamp(state.last_run, row.schedule.rule.tz)}"
    if record is not None:
        text += f" {STATE_ICONS.get(record.state, '')} {record.state}"
    return text


def _buttons(row: ScheduleRow) -> list[ButtonElement]:
    schedule = row.schedule
    buttons = [
        ButtonElement(text=PlainTextObject(text="Run now"), action_id=HOME_RUN_NOW_ACTION, value=schedule.id)
    ]
    if not row.may_change:
        return buttons
    if schedule.paused:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Resume"), action_id=HOME_RESUME_ACTION, value=schedule.id
            )
        )
    else:
        buttons.append(
            ButtonElement(text=PlainTextObject(text="Pause"), action_id=HOME_PAUSE_ACTION, value=schedule.id)
        )
    buttons.append(
        ButtonElement(text=PlainTextObject(text="Edit…"), action_id=SCHEDULE_FORM_ACTION, value=schedule.id)
    )
    buttons.append(
        ButtonElement(
            text=PlainTextObject(text="Remove"),
            action_id=HOME_REMOVE_ACTION,
            value=schedule.id,
            style="danger",
            confirm=ConfirmObject(
                title="Remove this schedule?",
                text=f"{_shortened(schedule.report, 60)} ({schedule.id}) will not run again. "
                "This cannot be undone.",
                confirm="Remove",
                deny="Keep it",
                style="danger",
            ),
        )
    )
    return buttons


def _jobs_text(jobs: Sequence[JobRecord], web: str) -> str:
    if not jobs:
        return "No jobs yet. *Run a report…* above runs one."
    lines = []
    for record in jobs[:RECENT_JOBS]:
        job = record.job
        args = describe_args({k: _shortened(v, 40) for k, v in job.args.items()})
        when = record.finished_at or record.started_at or job.requested_at
        line = (
            f"{STATE_ICONS.get(record.state, '')} *{escape_mrkdwn(job.report)}*"
            + (f" {args}" if args else "")
            + f" · {record.state} · {_stamp(when, 'UTC')}"
        )
        link = message_link(web, job.channel, record.status_ts)
        line += f" · <{link}|job {job.id}>" if link else f" · job {code(job.id)}"
        if job.schedule_id:
            line += f" · schedule {code(job.schedule_id)}"
        lines.append(line)
    text = ""
    for shown, line in enumerate(lines):
        if len(text) + len(line) + 1 > SECTION_LIMIT - 40:
            return text + f"\n… and {len(lines) - shown} more."
        text += ("\n" if text else "") + line
    return text


def message_link(web: str, channel: str, ts: str) -> str:
    """A status message's permalink, built as Slack builds them (`archives/<channel>/p<ts
    without the dot>`), or "" when the job has no message yet. Built rather than asked of
    `chat.getPermalink`: one Web API call per job on every publish would cost more than the
    page itself, and this form is what Slack's own permalinks are.

    >>> message_link("https://slack.com/", "C0SALES", "1767261600.000100")
    'https://slack.com/archives/C0SALES/p1767261600000100'
    """
    if not ts or not _is_id(channel) or not ts.replace(".", "").isdigit():
        return ""
    return f"{web}archives/{channel}/p{ts.replace('.', '')}"


def _stamp(ts: float | None, tz: str) -> str:
    """An instant each reader sees in their own zone; the fallback names the schedule's zone."""
    if ts is None:
        return "never"
    moment = datetime.fromtimestamp(ts, tz=UTC)
    with suppress(Exception):  # an unknown zone (checked when the schedule was made): UTC is right
        moment = moment.astimezone(ZoneInfo(tz))
    return date_stamp(ts, moment.strftime("%Y-%m-%d %H:%M %Z"))


def _is_id(channel: str) -> bool:
    return is_channel_id(channel)


def _shortened(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _capped(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"
