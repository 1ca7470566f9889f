"""The ack path's one side effect: publish a job to RabbitMQ, confirmed, within a bounded time.

A separate, fail-fast Celery app (see `tasks.worker.celery_config.producer_config`): a refused connection
fails in milliseconds, a stale pooled connection is retried once, and the broker's confirm is
awaited at most `CONFIRM_TIMEOUT`, so the person who typed the command hears back well within
Slack's three seconds either way.
"""

from __future__ import annotations

import logging

from celery import Celery

from tasks.jobs.publishing import publish_job
from tasks.jobs.records import Job
from tasks.settings import Settings
from tasks.worker.celery_config import make_app

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 0.5
CONFIRM_TIMEOUT = 1.0


class QueueUnavailable(Exception):
    """The broker did not take the job; nothing was queued."""


class Publisher:
    """Publishes jobs on the bot's fail-fast Celery app."""

    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.app = app or make_app(settings, producer=True)

    def publish(self, job: Job, time_limit: float, *, bulk: bool = False) -> None:
        """Queue `job` with its time limit, on the bulk queue if `bulk` (`tasks.jobs.queues.BULK_QUEUE`);
        raise QueueUnavailable unless the broker confirmed it."""
        try:
            publish_job(
                self.app, job, time_limit, timeout=PUBLISH_TIMEOUT, confirm_timeout=CONFIRM_TIMEOUT, bulk=bulk
            )
        except Exception as exc:  # kombu/amqp raise many kinds; all mean "not queued"
            log.warning("publish of job %s failed: %s: %s", job.id, type(exc).__name__, exc)
            raise QueueUnavailable(str(exc)) from exc
