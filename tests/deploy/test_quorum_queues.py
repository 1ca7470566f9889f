"""CELERY_QUEUE_TYPE=quorum, against the real RabbitMQ: the queue a cluster would replicate.

A virtual host of its own (a queue's type is fixed when first declared, and other tests use
classic queues), a real worker started with the setting, and a job published by the bot's own
publisher: the job runs and its result reaches Slack, from a queue RabbitMQ reports as quorum.
A job the worker has to retry waits in RabbitMQ (Celery's native delayed delivery) and still
gets its result posted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.processes import rabbitmqctl_rows
from tests.support import (
    BROKER_ROOT,
    REDIS_PREFIX,
    REDIS_URL,
    SESSION,
    WORKER_OPTIONS,
    Services,
    base_env,
    publish_ping,
    start_worker,
    wait_succeeded,
)

VHOST = f"{SESSION}-quorum"
CHANNEL = "C0QUORUM"


def listed(what: str, *columns: str) -> set[tuple[str, ...]]:
    return set(rabbitmqctl_rows(f"list_{what}", "-p", VHOST, *columns))


@pytest.fixture(scope="module")
def quorum_env(services, slack_server) -> Iterator[dict[str, str]]:
    with Services(BROKER_ROOT, REDIS_URL, name=VHOST) as own:
        yield base_env(
            slack_server.api_url,
            CELERY_BROKER_URL=own.broker_url,
            CELERY_QUEUE_TYPE="quorum",
            REDIS_PREFIX=f"{REDIS_PREFIX}quorum:",
        )


@pytest.fixture(scope="module")
def quorum_worker(quorum_env, tmp_path_factory):
    logs = tmp_path_factory.mktemp("quorum-worker")
    worker = start_worker("quorum-worker", "tasks", quorum_env, logs, *WORKER_OPTIONS, "--concurrency=1")
    yield worker
    worker.stop()


def test_a_job_runs_through_a_quorum_queue_when_the_setting_asks(slack, quorum_env, quorum_worker):
    assert ("reports", "quorum") in listed("queues", "name", "type")
    # Native delayed delivery (ETA, countdown, retry backoff) needs a topic exchange.
    assert ("reports", "topic") in listed("exchanges", "name", "type")

    job = publish_ping(quorum_env, CHANNEL)

    status = wait_succeeded(slack, CHANNEL, job)
    assert "pong" in slack.thread(CHANNEL, status.ts)[0].text


def test_a_job_retried_after_a_slack_outage_waits_in_rabbitmq_and_is_posted_once(
    slack, quorum_env, quorum_worker
):
    # Slack answers 503 to the status message more often than slack_sdk's own retries (three)
    # cover, so the worker gives the job back with a backoff under a second. RabbitMQ delays
    # quorum-queue retries in whole seconds only: the job must still come back and finish.
    channel = "C0QUORUMRETRY"
    slack.fail("chat.postMessage", None, times=4, status=503)

    job = publish_ping(quorum_env, channel)

    status = wait_succeeded(slack, channel, job, timeout=30)
    assert [m.ts for m in slack.messages(channel)] == [status.ts], "one status message"
    replies = slack.thread(channel, status.ts)
    assert len(replies) == 1 and replies[0].text.startswith("pong"), "one result"
    assert [r.status for r in slack.requests("chat.postMessage")] == [503, 503, 503, 503, 200, 200]
