"""`status <job id>` and `history`: a job's story, read back from its record.

Redis being down is not handled here: `StoreUnavailable` reaches `bot.commands.answer`, which
gives the one answer for it.
"""

from __future__ import annotations

import time

from bot.paging import fit_lines
from tasks.durations import format_duration
from tasks.errors import UserError
from tasks.jobs.records import JobRecord, JobRecords
from tasks.rendering.messages import STATE_ICONS, describe_request
from tasks.slack.ids import is_channel_id, user_mention
from tasks.slack.mrkdwn import date_stamp, escape_mrkdwn
from tasks.slack.web_api import web_url

__all__ = [
    "describe",
    "history_text",
    "no_such_job",
    "run_time",
    "status_text",
    "thread_link",
    "visible",
    "web_url",
]


def visible(record: JobRecord | None, channel: str, user: str, admins: tuple[str, ...] = ()) -> bool:
    """Whether `user`, typing or clicking in `channel`, may learn anything of this job: it is in
    their channel, or it is theirs, or they are an admin. Everyone else must not tell it from an
    unknown id, so a guessed id reveals nothing of a private channel. An empty id matches
    nothing, so a request or a record missing one reveals nothing either."""
    if record is None:
        return False
    job = record.job
    return bool(channel) and job.channel == channel or bool(user) and (job.user == user or user in admins)


def no_such_job(job_id: str, command: str) -> UserError:
    """The refusal for an unknown job and for one the asker may not see: the same words."""
    return UserError(
        f"There is no job `{escape_mrkdwn(job_id)}` in this channel (or it is older than the "
        f"retention period). `{command} history` lists this channel's recent jobs."
    )


def thread_link(record: JobRecord, web: str) -> str:
    """A link to the job's message: a command's status message and its thread, or a schedule's
    one message."""
    if not record.status_ts or not is_channel_id(record.job.channel):
        return ""
    label = "message" if record.job.schedule_id else "thread"
    return f"<{web}archives/{record.job.channel}/p{record.status_ts.replace('.', '')}|{label}>"


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return date_stamp(ts, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)), seconds=True)


def run_time(record: JobRecord) -> float | None:
    """How long the job's report ran, as the worker measured it once and its status message
    says; a record closed without that measure (cancelled, lost) tells it by its timestamps."""
    if record.duration is not None:
        return record.duration
    if record.started_at and record.finished_at:
        return record.finished_at - record.started_at
    return None


def describe(record: JobRecord, web: str) -> str:
    """One line of a job's story; `web` is Slack's web address (`web_url`) for the thread link."""
    job = record.job
    parts = [f"{STATE_ICONS.get(record.state, '')} `{job.id}` {describe_request(job)}: *{record.state}*"]
    if job.user:
        parts.append(f"by {user_mention(job.user)}")
    parts.append(_when(job.requested_at))
    ran = run_time(record)
    if ran is not None:
        parts.append(f"ran {format_duration(ran)}")
    if record.cancelled_by:
        parts.append(f"cancelled by {user_mention(record.cancelled_by)}")
    link = thread_link(record, web)
    if link:
        parts.append(link)
    return " · ".join(p for p in parts if p)


def status_text(
    records: JobRecords,
    job_id: str,
    command: str,
    *,
    channel: str,
    user: str,
    admins: tuple[str, ...] = (),
    web: str,
) -> str:
    """A job's story, for the people who could see it anyway (`visible`)."""
    record = records.get(job_id)
    if record is None or not visible(record, channel, user, admins):
        raise no_such_job(job_id, command)
    return describe(record, web)


def history_text(records: JobRecords, channel: str, command: str, web: str, count: int = 10) -> str:
    found = records.history(channel, count)
    if not found:
        return f"No jobs have run in this channel yet. Try `{command} ping`."
    return fit_lines(
        f"*Recent jobs in this channel* ({len(found)}):",
        [describe(r, web) for r in found],
        lambda left: f"… and {left} older jobs that did not fit in one message.",
    )
