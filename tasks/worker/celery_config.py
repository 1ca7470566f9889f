"""Celery's configuration: one for the workers (and beat), a fail-fast variant for the bot's publishes.

Each setting below carries its reason; the facts behind them are in the project's notes on
Celery and RabbitMQ. The app itself is built in `tasks.worker.app`.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from tasks.jobs.queues import BULK_QUEUE, QUEUE, RUN_REPORT, time_limits
from tasks.schedules.beat import BEAT_MAX_LOOP_INTERVAL
from tasks.settings import Settings

# Resident size of a pool process after which it is replaced: about 6x an idle one (65 MiB),
# and low enough that the main process and two pool processes near it fit the 1 GiB that
# deploy/kubernetes/worker.yaml gives a worker.
WORKER_MAX_MEMORY_KIB = 384 * 1024


def celery_config(settings: Settings) -> dict[str, Any]:
    """Worker-side configuration: never lose an accepted job, never run it twice in parallel."""
    return {
        "broker_url": settings.celery_broker_url,
        "broker_connection_retry_on_startup": True,
        # A publish is confirmed by the broker, so "queued" means queued, even under alarms.
        "broker_transport_options": {"confirm_publish": True},
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Job state lives in our own records; Celery results would add a pub/sub per publish.
        "task_ignore_result": True,
        "task_default_queue": QUEUE,
        "task_routes": {RUN_REPORT: {"queue": QUEUE}},
        # Consumed by every worker unless `-Q` picks some (`-Q reports`: commands only).
        "task_queues": task_queues(settings.celery_queue_type),
        # Ack after the job has run, requeue if the worker process dies mid-job; posting is
        # idempotent per job and step, so a redelivered job does not post twice. A job whose
        # process dies again on its redelivery is ended failed, not handed back once more
        # (`tasks.worker.lost_jobs.JobRequest`): a report that kills its process would loop forever.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A job killed at its hard time limit is acked, never requeued: it would be killed
        # again, forever. The worker's main process ends it failed (`tasks.worker.lost_jobs`).
        "task_acks_on_timeout": True,
        "worker_prefetch_multiplier": 1,
        # A job runs on when the worker's broker connection drops: killed there, it would leave
        # Slack half-told (a status message up, its result not) and its redelivery would post
        # both again. Its delivery cannot be acked on the dead connection, so RabbitMQ hands it out again;
        # that copy steps back while this one holds the job's run lease (tasks.worker.run_lease), then
        # finds the job done.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_soft_time_limit": time_limits(settings.report_time_limit)[0],
        "task_time_limit": time_limits(settings.report_time_limit)[1],
        # A pool process is replaced when a report leaves it above this resident size (KiB), not
        # after a count of tasks: a replacement holds up the job already handed to the leaving
        # process until its successor is up, seconds later. Counting tasks would replace a busy
        # process every so many jobs, however small; by size, a leak or a large report still
        # gets its process replaced.
        "worker_max_memory_per_child": WORKER_MAX_MEMORY_KIB,
        # Task events cost a broker publish per state change of every job. Flower turns them on
        # in the workers while it runs (its enable_events option), so nobody pays when nobody
        # watches.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        # `celery -A tasks beat` runs our scheduler (schedules in the store, a leader lock), as
        # `python run.py beat` does, and ticks every second so a new schedule is seen at once.
        "beat_scheduler": "tasks.schedules.beat:StoreScheduler",
        "beat_max_loop_interval": BEAT_MAX_LOOP_INTERVAL,
        **queue_type_config(settings.celery_queue_type),
    }


def task_queues(queue_type: str) -> tuple[Queue, ...]:
    """`reports` and `reports.bulk`, each declared as Celery declares a default queue (an
    exchange of its own name, its name as routing key), so a `reports` queue declared before
    the bulk one existed is declared again with the same arguments. Whichever of a worker's
    queues has a message gets the next free process: RabbitMQ offers a channel's freed prefetch
    to its queues in random order (rabbit_limiter), so a few commands on `reports` are not
    starved by a full bulk queue."""
    exchange_type = "topic" if queue_type == "quorum" else "direct"
    arguments = {"x-queue-type": "quorum"} if queue_type == "quorum" else None
    return tuple(
        Queue(name, Exchange(name, exchange_type), routing_key=name, queue_arguments=arguments)
        for name in (QUEUE, BULK_QUEUE)
    )


def queue_type_config(queue_type: str) -> dict[str, Any]:
    """CELERY_QUEUE_TYPE=quorum: replicated queues for a RabbitMQ cluster; classic adds nothing.

    Quorum queues need publisher confirms (on above), have no global QoS (Celery then turns it
    off, so prefetch is static), and Celery's native delayed delivery for ETA/countdown needs a
    topic exchange. A queue's type is fixed when it is first declared: switching an existing
    vhost means deleting the `reports` queue and exchange first (see deploy/README.md).
    """
    if queue_type != "quorum":
        return {}
    return {
        "task_default_queue_type": "quorum",
        "task_create_missing_queue_type": "quorum",
        "task_default_exchange_type": "topic",
    }


def retry_countdown(due: float, queue_type: str, jitter: float = 0.0) -> float:
    """The countdown to give Celery for a retry due in `due` seconds, spread by `jitter`.

    With quorum queues a retry waits in RabbitMQ (Celery's native delayed delivery), which counts
    whole seconds: Celery truncates the countdown, and one under a second makes the publish fail
    (kombu's `calculate_routing_key`), which `Task.retry` turns into a rejected, dropped message.
    So there `due` is rounded up and the jitter, which whole seconds cannot carry, is left out;
    a classic queue's worker holds the retry itself, to the millisecond.
    """
    if queue_type != "quorum":
        return due + jitter
    return float(max(1, math.ceil(due)))


def producer_config(settings: Settings) -> dict[str, Any]:
    """The bot publishes inside Slack's 3-second ack window, so every wait is short and bounded."""
    config = celery_config(settings)
    config.update(
        {
            "broker_connection_timeout": 0.5,
            "broker_connection_max_retries": 1,
            "broker_pool_acquire_timeout": 0.25,
            "task_publish_retry_policy": {
                "max_retries": 1,
                "interval_start": 0,
                "interval_step": 0.1,
                "interval_max": 0.1,
            },
        }
    )
    return config


def make_app(settings: Settings, *, producer: bool = False) -> Celery:
    """A Celery app for `settings`; `producer=True` gives the bot's fail-fast variant."""
    app = Celery("reportbot" if not producer else "reportbot-producer")
    app.conf.update(producer_config(settings) if producer else celery_config(settings))
    return app
