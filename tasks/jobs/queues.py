"""Where a job waits and how long it may run: the queues' names and the time limits.

Known to the bot (which publishes), the worker (which runs) and beat (which closes lost jobs),
so it lives with the job, apart from Celery's configuration, and imports nothing.
"""

from __future__ import annotations

QUEUE = "reports"
# A person's jobs beyond their first few in flight, and schedules' runs, wait here; workers
# consume both queues, so neither waits in front of the commands on `reports`.
BULK_QUEUE = "reports.bulk"
RUN_REPORT = "reportbot.run_report"

# RabbitMQ closes a channel whose delivery stays unacked longer than consumer_timeout (30 min by
# default). With acks_late a task holds its delivery while it runs, so every time limit we allow
# must stay well below it.
RABBITMQ_CONSUMER_TIMEOUT = 30 * 60
MAX_TIME_LIMIT = 20 * 60
# Seconds between the soft time limit (the report is told to stop) and the hard one (killed).
HARD_LIMIT_GRACE = 15
# Seconds after its hard limit when a job still "running" is closed by beat as lost. Its worker
# would have ended it at the hard limit (`tasks.worker.lost_jobs`); a worker that vanished (a machine
# gone) has its unacked delivery redelivered by RabbitMQ once the connection is declared dead
# (heartbeats: a few minutes at most), and that delivery moves the deadline on. Only a job no
# worker will ever run again is left past it. A job waiting this long for its redelivery
# behind a full queue is closed too, and says so.
CLOSE_GRACE = 10 * 60


def time_limits(seconds: float) -> tuple[float, float]:
    """(soft, hard) limits for a report allowed `seconds`, capped below RabbitMQ's consumer_timeout."""
    soft = min(seconds, MAX_TIME_LIMIT)
    return soft, soft + HARD_LIMIT_GRACE


def close_deadline(started: float, seconds: float) -> float:
    """When a job started at `started` (time.time()) and allowed `seconds` is closed if still
    unfinished: its hard limit and `CLOSE_GRACE` later."""
    return started + time_limits(seconds)[1] + CLOSE_GRACE
