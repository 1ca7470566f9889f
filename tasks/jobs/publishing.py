"""The one way a job is put on the queue: by the bot for a command, by beat for a schedule.

Both publish the same message with the same limits; only how long they may wait differs (the
bot answers Slack within three seconds, beat can afford to wait for the broker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celery import Celery

from tasks.jobs.queues import BULK_QUEUE, QUEUE, RUN_REPORT, time_limits
from tasks.jobs.records import Job
from tasks.settings import Settings

if TYPE_CHECKING:  # only named in annotations: the job side does not load the report API
    from tasks.reports import Report

# Celery cuts the repr it builds at this length; so do we.
ARGSREPR_LIMIT = 1024


def job_time_limit(report: Report | None, settings: Settings) -> float:
    """The report's own time limit, else the settings' default."""
    return (report.time_limit if report is not None else None) or settings.report_time_limit


def publish_job(
    app: Celery, job: Job, time_limit: float, *, timeout: float, confirm_timeout: float, bulk: bool = False
) -> None:
    """Publish `job`, confirmed by the broker, with its time limits: to the reports queue, or to
    the bulk queue when `bulk` or when it is a schedule's run (a digest), so neither one
    person's burst nor a digest fan-out waits in front of other people's commands.

    A running job holds its delivery unacked (acks late), so every limit stays below RabbitMQ's
    consumer_timeout whatever a report asks for (`tasks.jobs.queues.time_limits`). Raises whatever
    the broker client raises.
    """
    soft, hard = time_limits(time_limit)
    app.send_task(
        RUN_REPORT,
        args=[job.to_message()],
        task_id=job.id,
        queue=BULK_QUEUE if bulk or job.schedule_id else QUEUE,
        soft_time_limit=soft,
        time_limit=hard,
        retry=True,
        timeout=timeout,
        confirm_timeout=confirm_timeout,
        ignore_result=True,
        # What Flower and the worker's log show for the task. Given here, because Celery would
        # otherwise build it with its own safe repr of the whole message on every publish, a
        # real part of the ack path's CPU.
        argsrepr=f"{job.report} {job.args!r} in {job.channel} for {job.user}"[:ARGSREPR_LIMIT],
        kwargsrepr="{}",
    )
