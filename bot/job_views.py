"""`status <job id>` and `history`: a job's story, read back from its record."""

from __future__ import annotations

import time

from tasks.errors import UserError
from tasks.jobs import JobRecord, JobRecords
from tasks.rendering import STATE_ICONS, describe_request, format_duration
from tasks.store import StoreUnavailable

STORE_DOWN = (
    ":warning: Job records are unavailable right now (Redis is not answering), so I cannot "
    "show {what}. Jobs still run and post their results; try again in a minute."
)


def thread_link(record: JobRecord) -> str:
    if not record.status_ts:
        return ""
    return f"<https://slack.com/archives/{record.job.channel}/p{record.status_ts.replace('.', '')}|thread>"


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time_secs}}|{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(ts))}>"


def describe(record: JobRecord) -> str:
    job = record.job
    parts = [f"{STATE_ICONS.get(record.state, '')} `{job.id}` {describe_request(job)}: *{record.state}*"]
    if job.user:
        parts.append(f"by <@{job.user}>")
    parts.append(_when(job.requested_at))
    if record.started_at and record.finished_at:
        parts.append(f"ran {format_duration(record.finished_at - record.started_at)}")
    if record.cancelled_by:
        parts.append(f"cancelled by <@{record.cancelled_by}>")
    link = thread_link(record)
    if link:
        parts.append(link)
    return " · ".join(p for p in parts if p)


def status_text(
    records: JobRecords, job_id: str, command: str, *, channel: str, user: str, admins: tuple[str, ...] = ()
) -> str:
    """A job's story, for the people who could see it anyway: its channel, its requester, admins.

    Anyone else gets the same answer as for an unknown id, so a guessed id reveals nothing of a
    private channel.
    """
    try:
        record = records.get(job_id)
    except StoreUnavailable:
        return STORE_DOWN.format(what=f"job `{job_id}`")
    visible = record is not None and (record.job.channel == channel or record.job.user == user or user in admins)
    if record is None or not visible:
        raise UserError(
            f"There is no job `{job_id}` in this channel (or it is older than the retention period). "
            f"`{command} history` lists this channel's recent jobs."
        )
    return describe(record)


def history_text(records: JobRecords, channel: str, command: str, count: int = 10) -> str:
    try:
        found = records.history(channel, count)
    except StoreUnavailable:
        return STORE_DOWN.format(what="this channel's history")
    if not found:
        return f"No jobs have run in this channel yet. Try `{command} ping`."
    return f"*Recent jobs in this channel* ({len(found)}):\n" + "\n".join(describe(r) for r in found)
