"""The ack path's one side effect: publish a job to RabbitMQ, confirmed, within a bounded time.

A separate, fail-fast Celery app (see `tasks.worker.celery_config.producer_config`): a refused connection
fails in milliseconds, a stale pooled connection is retried once, and the broker's confirm is
awaited at most `CONFIRM_TIMEOUT`, so the person who typed the command hears back well within
Slack's three seconds either way.

A publish the broker nacks is tried again for up to `NACK_RETRY_FOR`: a quorum queue whose
leader's node has just died nacks what it is sent until its remaining members elect a new
leader (a fraction of a second), and the person who typed the command should hear "queued",
not "try again", for a blip the cluster heals by itself. A nacked message was not taken, so
sending it again queues it once; were a copy taken after all, it carries the same job id, and
a worker runs a job id once (its run lease and record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from amqp.exceptions import MessageNacked
from celery import Celery

from tasks.jobs.publishing import publish_job
from tasks.jobs.records import Job
from tasks.settings import Settings
from tasks.worker.celery_config import make_app

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 0.5
CONFIRM_TIMEOUT = 1.0
# How long nacked publishes are tried again, and the first pause between tries (doubling). A
# try that starts just before the end may wait out PUBLISH_TIMEOUT and CONFIRM_TIMEOUT: the ack
# still leaves within Slack's three seconds.
NACK_RETRY_FOR = 1.0
NACK_PAUSE = 0.05


class QueueUnavailable(Exception):
    """The broker did not take the job; nothing was queued."""


class Publisher:
    """Publishes jobs on the bot's fail-fast Celery app."""

    def __init__(
        self,
        settings: Settings,
        app: Celery | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app or make_app(settings, producer=True)
        self._clock, self._sleep = clock, sleep

    def publish(self, job: Job, time_limit: float, *, bulk: bool = False) -> None:
        """Queue `job` with its time limit, on the bulk queue if `bulk` (`tasks.jobs.queues.BULK_QUEUE`);
        raise QueueUnavailable unless the broker confirmed it (a nack is tried again, see above)."""
        deadline = self._clock() + NACK_RETRY_FOR
        pause = NACK_PAUSE
        while True:
            try:
                publish_job(
                    self.app,
                    job,
                    time_limit,
                    timeout=PUBLISH_TIMEOUT,
                    confirm_timeout=CONFIRM_TIMEOUT,
                    bulk=bulk,
                )
                return
            except Exception as exc:  # kombu/amqp raise many kinds; all mean "not queued"
                if nacked(exc) and self._clock() + pause < deadline:
                    log.info("publish of job %s was nacked; trying again in %.2f s", job.id, pause)
                    self._sleep(pause)
                    pause *= 2
                    continue
                log.warning("publish of job %s failed: %s: %s", job.id, type(exc).__name__, exc)
                raise QueueUnavailable(str(exc) or type(exc).__name__) from exc


def nacked(exc: BaseException) -> bool:
    """True when the broker answered the publish with a nack (kombu re-raises it as its own
    OperationalError, the nack as its cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MessageNacked):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
