"""What `schedule add` and `schedule list` show: ids as code, a rule in its schedule's zone, and
each run time in the reader's own zone (Slack's date formatting, the schedule's zone as fallback).

Pure functions of schedules, run states and job records, so tests call them directly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.paging import Page, fit_lines
from tasks.jobs.records import JobRecord
from tasks.rendering.messages import SCHEDULE_FORM_ACTION, STATE_ICONS, describe_args
from tasks.schedules.schedule import CRON_EXAMPLE, RunState, Schedule
from tasks.slack.mrkdwn import code, date_stamp, escape_mrkdwn

#: Characters of one argument's value shown in `schedule list`.
ARG_SHOWN = 80
#: Schedules on one page of `schedule list`: at most about 350 characters each (a long
#: argument is shortened), so a page stays well within one Slack message.
PAGE_SIZE = 10


def when(moment: datetime | float | None, tz_schedule: Schedule | None = None) -> str:
    """A fire time as people read it, in the schedule's zone: ``Mon 2026-03-09 09:00 EDT``."""
    if moment is None:
        return "never"
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    if tz_schedule is not None:
        moment = moment.astimezone(tz_schedule.rule.zone)
    # Seconds only when they matter (a schedule every few seconds), so daily ones stay readable.
    return moment.strftime("%a %Y-%m-%d %H:%M:%S %Z" if moment.second else "%a %Y-%m-%d %H:%M %Z")


def shown_at(moment: datetime | float | None, tz_schedule: Schedule | None = None) -> str:
    """A fire time in a message: an instant each reader sees in their own zone, falling back to
    `when` (the schedule's zone) where Slack cannot format dates. The rule itself ("09:00
    America/New_York") is shown by `describe_rule`, in the zone that decides it."""
    if moment is None:
        return when(None)
    ts = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return date_stamp(ts, when(moment, tz_schedule), seconds=int(ts) % 60 != 0)


def describe_rule(schedule: Schedule) -> str:
    """``every 5m`` or ``cron "0 9 * * 1-5"``, its zone, and a non-default misfire policy."""
    text = f"{code(schedule.rule.describe())} ({escape_mrkdwn(schedule.rule.tz)})"
    if schedule.misfire != "once":
        text += f" {code('misfire=' + schedule.misfire)}"
    return text


def what(schedule: Schedule) -> str:
    args = describe_args({k: _shortened(v) for k, v in schedule.args.items()})
    name = f"*{escape_mrkdwn(schedule.report)}*"
    return f"{name} {args}" if args else name


def added_text(schedule: Schedule, runs: list[datetime], command: str, where: str = "in this channel") -> str:
    """The answer to `schedule add`: its id, what runs when, the next three runs, how to undo.
    `where` names the channel (the form, shown outside it, says which)."""
    lines = [
        f":calendar: Scheduled {what(schedule)} {describe_rule(schedule)} {where} as {code(schedule.id)}.",
        "Next runs: " + " · ".join(shown_at(run, schedule) for run in runs),
        f"Stop it with {code(f'{command} schedule remove {schedule.id}')}, "
        f"or pause it with {code(f'{command} schedule pause {schedule.id}')}.",
    ]
    return "\n".join(lines)


def last_run_text(state: RunState | None, record: JobRecord | None, schedule: Schedule) -> str:
    if state is None or state.last_run is None:
        return "last run: none yet"
    text = f"last run: {shown_at(state.last_run, schedule)}"
    if record is not None:
        text += f" {STATE_ICONS.get(record.state, '')} {record.state} (job {code(record.job.id)})"
    elif state.last_job_id:
        text += f" (job {code(state.last_job_id)})"
    return text


def schedule_line(
    schedule: Schedule, state: RunState | None, next_run: float | None, record: JobRecord | None
) -> str:
    """One schedule in `schedule list`: id, report, arguments, rule, zone, next and last run."""
    marks = []
    if schedule.static:
        marks.append("_static, from configuration_")
    if schedule.paused:
        why = f" ({escape_mrkdwn(schedule.paused_reason)})" if schedule.paused_reason else ""
        marks.append(f":double_vertical_bar: *paused*{why}")
    head = f"• {code(schedule.id)} {what(schedule)} {describe_rule(schedule)}"
    if marks:
        head += " " + " ".join(marks)
    nxt = "next run: paused" if schedule.paused else f"next run: {shown_at(next_run, schedule)}"
    return f"{head}\n    {nxt} · {last_run_text(state, record, schedule)}"


def _shortened(value: str) -> str:
    """An argument's value as a list shows it: a long one cut (before escaping, so no entity
    is cut in two), so a page of schedules fits one message."""
    return value if len(value) <= ARG_SHOWN else value[: ARG_SHOWN - 1] + "…"


def list_text(lines: list[str], page: Page[Schedule], command: str) -> str:
    """`schedule list`: one page of the channel's schedules, and how to see the next one."""
    if not lines:
        return (
            "This channel has no schedules. Add one with "
            f"{code(f'{command} schedule add sales every 1d')} or "
            f"{code(command + ' schedule add sales cron ' + chr(34) + CRON_EXAMPLE + chr(34))}."
        )
    head = "*Schedules in this channel*"
    if page.count > 1:
        head += f" (page {page.number} of {page.count})"
    listing = f"{command} schedule list"

    def more(left_on_page: int) -> str:
        return f"… and {left_on_page} more on this page that did not fit."

    text = fit_lines(head, lines, more)
    if page.after:
        text += f"\n\n… and {page.after} more: {code(f'{listing} page {page.number + 1}')}"
    return text


#: The longest text a section block holds; a longer answer goes without the button.
SECTION_LIMIT = 3000


def with_schedule_button(text: str, label: str = "Schedule…") -> list[dict[str, object]] | None:
    """`text` as blocks followed by a button that opens the schedule form; None (text alone) when
    it does not fit one section."""
    if len(text) > SECTION_LIMIT:
        return None
    return [
        SectionBlock(text=MarkdownTextObject(text=text)).to_dict(),
        ActionsBlock(
            elements=[ButtonElement(text=label, action_id=SCHEDULE_FORM_ACTION, value="")]
        ).to_dict(),
    ]
