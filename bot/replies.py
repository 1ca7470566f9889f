"""What the bot says back at once (ephemeral): help, the report list, acks and refusals.

Only the immediate answers to a command live here; messages about a job's run are rendered in
`tasks.rendering.messages`, the one place for those.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.paging import fit_lines
from tasks.jobs.records import Job
from tasks.rendering.messages import describe_request
from tasks.reports import Registry, Report
from tasks.slack.mrkdwn import escape_mrkdwn

log = logging.getLogger(__name__)


def report_line(report: Report, command: str) -> str:
    """One report for help and list: its name, one-line help and arguments."""
    line = f"• `{command} {escape_mrkdwn(report.usage())}`"
    if report.help:
        line += f": {escape_mrkdwn(report.help)}"
    return line


def help_text(registry: Registry, command: str, grammar_usage: str) -> str:
    """Usage, then every report with its arguments and help, as many as one message holds."""
    head = "\n".join([f"*How to use `{command}`*", grammar_usage, "", "*Reports*"])
    lines = [report_line(r, command) for r in registry.all()] or ["_No reports are installed._"]
    return fit_lines(head, lines, lambda left: _more_reports(left, command))


def _more_reports(left: int, command: str) -> str:
    return f"… and {left} more reports. `{command} help &lt;report&gt;` shows one by its name."


def report_help(report: Report, command: str) -> str:
    """One report in detail: each argument with its type and default."""
    lines = [f"*{escape_mrkdwn(report.name)}*: {escape_mrkdwn(report.help or 'no description')}"]
    lines.append(f"Usage: `{command} {escape_mrkdwn(report.usage())}`")
    args = report.describe_args()
    if args:
        lines.append("Arguments:")
        lines += [f"• {escape_mrkdwn(a)}" for a in args]
    else:
        lines.append("It takes no arguments.")
    return "\n".join(lines)


def list_text(registry: Registry, command: str) -> str:
    reports = registry.all()
    if not reports:
        return "No reports are installed."
    lines = [report_line(r, command) for r in reports]
    return fit_lines(f"*Reports* ({len(reports)}):", lines, lambda left: _more_reports(left, command))


def queued_text(job: Job) -> str:
    """The ack: what was queued, with which arguments, and the job id in backticks."""
    if job.schedule_id:  # a schedule's run, now: its message is the digest, no status line
        return (
            f":inbox_tray: Queued {describe_request(job)} as job `{job.id}`, a run of schedule "
            f"`{escape_mrkdwn(job.schedule_id)}` now. Its message will appear in this channel, as the schedule's do."
        )
    return (
        f":inbox_tray: Queued {describe_request(job)} as job `{job.id}`. "
        "The result will appear in this channel, in a thread under its status message."
    )


def not_queued_text(report: str) -> str:
    return (
        f":warning: Nothing was queued: the job queue is not answering right now, so "
        f"`{escape_mrkdwn(report)}` did not start. Please try again in a minute; if it keeps "
        "happening, tell whoever runs reportbot that the broker (RabbitMQ) is down."
    )


def store_down() -> str:
    """The one answer when Redis, where job records and schedules live, is not answering.

    `CommandHandler.handle` gives it for every command that needed Redis, so no command has its
    own copy."""
    return (
        ":warning: Job records are unavailable right now, and so are schedules (Redis is not "
        "answering), so I could not do that and nothing was changed. Jobs still run and post "
        "their results; please try again in a minute."
    )


SORRY = (
    ":warning: Sorry, something went wrong on my side and nothing was queued. "
    "Please try again; if it keeps happening, tell whoever runs reportbot."
)

#: Said through a click's response_url when Slack would not open the form it asked for (its
#: trigger_id expired: the bot took longer than Slack's 3 s), so the click is not met by silence.
FORM_NOT_OPENED = (
    ":hourglass: The form did not open: Slack allows a click only a few seconds to open one, "
    "and this one took longer. Please click again."
)


def tell_form_not_opened(web: Any, response_url: str, what: str) -> None:
    """`FORM_NOT_OPENED` to the clicker alone, when the click has a response_url (a button in
    a message; the Home tab and shortcuts have none, and the log is all there is). Never raises."""
    if not response_url:
        return
    try:
        web.respond_ephemeral(response_url, FORM_NOT_OPENED)
    except Exception as exc:  # the response_url expired too: the log has it
        log.warning("%s: could not say the form did not open: %s", what, type(exc).__name__)
