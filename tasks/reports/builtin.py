"""The built-in reports: health checks of the path a job takes, useful on day one."""

from __future__ import annotations

from typing import Any

from tasks.durations import format_duration
from tasks.jobs.records import Job
from tasks.reports._registry import report
from tasks.reports.context import current_job
from tasks.slack.mrkdwn import escape_mrkdwn


@report("ping", help="Check the whole path: how long the job waited in the queue, and ran")
def ping() -> str:
    """`pong`, with the queue wait (request to pick-up). How long it ran is the worker's one
    measure, in the status message beside it and in `history`: a second clock here would
    tell a different number for the same job."""
    job = current_job()
    if job is None:
        return "pong"
    waited = max(0.0, job.started_at - job.requested_at)
    return f"pong :table_tennis_paddle_and_ball: waited {format_duration(waited)} in the queue."


@report("queue", help="Workers online, jobs waiting in the queue, and this channel's running jobs")
def queue() -> str:
    """The live state of the system, asked of the broker and the workers themselves. Running
    jobs are counted on every worker, but only this channel's are named: the answer is posted
    in the channel, for all its members to read, and a job id is a handle on another channel's
    business (`status <id>` tells its owner and admins more, privately)."""
    from celery import current_task

    from tasks.jobs.queues import QUEUE

    app = current_task.app  # the worker app running this job

    lines = []
    if str(app.conf.broker_url).startswith("memory://"):
        # Local mode: one worker in this process, and no broker to ask.
        return "*Workers online*: 1 (the local worker in this process)\n*Queue*: in memory"
    try:
        with app.connection_for_write() as conn:
            _, depth, consumers = conn.default_channel.queue_declare(QUEUE, passive=True)
        lines.append(f"*Queue* `{QUEUE}`: {depth} waiting, {consumers} consumer(s).")
    except Exception as exc:  # the broker's own error is the useful answer here
        lines.append(f"*Queue* `{QUEUE}`: could not be read ({type(exc).__name__}).")
    try:
        inspector = app.control.inspect(timeout=1.0)
        replies = inspector.ping() or {}
        active = inspector.active() or {}
    except Exception as exc:
        lines.append(f"*Workers*: could not be asked ({type(exc).__name__}).")
        return "\n".join(lines)
    asker = current_job()
    here = asker.channel if asker else ""
    lines.append(f"*Workers online*: {len(replies)}")
    for name in sorted(replies):
        running = active.get(name) or []
        lines.append(f"• `{name}`: {len(running)} running{_named(running, here)}")
    return "\n".join(lines)


def _named(running: list[dict[str, Any]], channel: str) -> str:
    """The ids of the running tasks that are jobs of `channel`, and how many others there are.

    >>> here = {"id": "0badf00d", "args": [{"id": "0badf00d", "report": "ping", "args": {}, "channel": "C1", "user": "U1"}]}
    >>> there = {"id": "5ca1ab1e", "args": [{"id": "5ca1ab1e", "report": "ping", "args": {}, "channel": "C2", "user": "U1"}]}
    >>> _named([here, there], "C1"), _named([there], "C1"), _named([], "C1")
    (' (`0badf00d`; 1 from other channels)', ' (1 from other channels)', ' (idle)')
    """
    if not running:
        return " (idle)"
    jobs = [_job_of(task) for task in running]
    shown = [escape_mrkdwn(job.id) for job in jobs if job is not None and channel and job.channel == channel]
    hidden = len(running) - len(shown)
    parts = [", ".join(f"`{job_id}`" for job_id in shown)] if shown else []
    if hidden:
        parts.append(f"{hidden} from other channels")
    return f" ({'; '.join(parts)})"


def _job_of(task: dict[str, Any]) -> Job | None:
    """The job a running task carries (its one argument, as published), or None if it is not one."""
    args = task.get("args")
    if not isinstance(args, (list, tuple)) or not args or not isinstance(args[0], dict):
        return None
    try:
        return Job.from_message(args[0])
    except (TypeError, ValueError, AttributeError):
        return None
