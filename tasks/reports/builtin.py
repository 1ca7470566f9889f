"""The built-in reports: health checks of the path a job takes, useful on day one."""

from __future__ import annotations

import time

from tasks.rendering import format_duration
from tasks.reports._registry import report
from tasks.reports.context import current_job


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


@report("queue", help="Workers online, jobs waiting in the queue and jobs running")
def queue() -> str:
    """The live state of the system, asked of the broker and the workers themselves."""
    from tasks import app
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
    lines.append(f"*Workers online*: {len(replies)}")
    for name in sorted(replies):
        jobs = active.get(name, [])
        running = ", ".join(f"`{t.get('id', '?')}`" for t in jobs) or "idle"
        lines.append(f"• `{name}`: {len(jobs)} running ({running})")
    return "\n".join(lines)
