"""The one way a job is put on the queue: by the bot for a command, by beat for a schedule.

Both publish the same message with the same limits; only how long they may wait differs (the
bot answers Slack within three seconds, beat can afford to wait for the broker).
"""

from __future__ import annotations

from celery import Celery

from tasks.celery import MAX_TIME_LIMIT, QUEUE, RUN_REPORT
from tasks.jobs import Job

# Seconds between the soft time limit (the report is told to stop) and the hard one (killed).
HARD_LIMIT_GRACE = 15


def publish_job(app: Celery, job: Job, time_limit: float, *, timeout: float, confirm_timeout: float) -> None:
    """Publish `job` to the reports queue, confirmed by the broker, with its time limits.

    A running job holds its delivery unacked (acks late), so every limit stays below RabbitMQ's
    consumer_timeout whatever a report asks for. Raises whatever the broker client raises.
    """
    limit = min(time_limit, MAX_TIME_LIMIT)
    app.send_task(
        RUN_REPORT,
        args=[job.to_message()],
        task_id=job.id,
        queue=QUEUE,
        soft_time_limit=limit,
        time_limit=limit + HARD_LIMIT_GRACE,
        retry=True,
        timeout=timeout,
        confirm_timeout=confirm_timeout,
        ignore_result=True,
    )
