"""The built-in reports: health checks of the path a job takes, useful on day one."""

from __future__ import annotations

import time
from typing import Any

from tasks.jobs import Job, may_see
from tasks.mrkdwn import escape_mrkdwn
from tasks.rendering import format_duration
from tasks.reports._registry import report
from tasks.reports.context import JobContext, current_job


@report("ping", help="Check the whole path: how long the job waited in the queue, and ran")
def ping() -> str:
    """`pong`, with the queue wait (request to pick-up) and the time since pick-up."""
    job = current_job()
    if job is None:
        return "pong"
    now = time.time()
    waited = max(0.0, job.started_at - job.requested_at)
    ran = max(0.0, now - job.started_at)
    return f"pong :table_tennis_paddle_and_ball: waited {format_duration(waited)} in the queue, ran for {format_duration(ran)}."


@report("queue", help="Workers online, jobs waiting in the queue, and the running jobs you may see")
def queue() -> str:
    """The live state of the system, asked of the broker and the workers themselves. Running
    jobs are counted on every worker, but only those the asker may see (`tasks.jobs.may_see`:
    this channel's, their own, or any for an admin) are named: a job id is a handle on another
    channel's business."""
    from tasks import app, settings
    from tasks.celery import QUEUE

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
    lines.append(f"*Workers online*: {len(replies)}")
    for name in sorted(replies):
        running = active.get(name) or []
        lines.append(f"• `{name}`: {len(running)} running{_named(running, asker, settings.admin_users)}")
    return "\n".join(lines)


def _named(running: list[dict[str, Any]], asker: JobContext | None, admins: tuple[str, ...]) -> str:
    """The ids of the running tasks `asker` may see, and how many others there are.

    >>> mine = {"id": "0badf00d", "args": [{"id": "0badf00d", "report": "ping", "args": {}, "channel": "C1", "user": "U1"}]}
    >>> theirs = {"id": "5ca1ab1e", "args": [{"id": "5ca1ab1e", "report": "ping", "args": {}, "channel": "C2", "user": "U2"}]}
    >>> _named([mine, theirs], JobContext("f00dcafe", "U1", "C1", 0.0, 0.0), ())
    ' (`0badf00d`; 1 from elsewhere)'
    >>> _named([mine, theirs], JobContext("f00dcafe", "U9", "C9", 0.0, 0.0), ("U9",))
    ' (`0badf00d`, `5ca1ab1e`)'
    """
    if not running:
        return " (idle)"
    shown = [
        escape_mrkdwn(job.id)
        for job in map(_job_of, running)
        if job is not None and asker is not None and may_see(job, asker.channel, asker.user, admins)
    ]
    hidden = len(running) - len(shown)
    parts = [", ".join(f"`{job_id}`" for job_id in shown)] if shown else []
    if hidden:
        parts.append(f"{hidden} from elsewhere")
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
