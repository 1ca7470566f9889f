"""A job whose retry RabbitMQ refuses is handed back, not dropped.

Celery's `Task.retry` publishes the retry and, when that publish fails, rejects the delivery it
was running without requeueing it: the job would be gone. Here RabbitMQ really refuses it: a
length limit of 0 with `reject-publish` on the `reports` queue (as an operator protecting the
broker might set) makes it nack every publish, after the worker has taken the job. The limit
counts only messages waiting in the queue, so the job the worker holds is not touched by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench.processes import rabbitmqctl
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

VHOST = f"{SESSION}-refused"
CHANNEL = "C0REFUSED"
POLICY = "reports-full"


@pytest.fixture(scope="module")
def refused_env(services, slack_server) -> Iterator[dict[str, str]]:
    with Services(BROKER_ROOT, REDIS_URL, name=VHOST) as own:
        yield base_env(
            slack_server.api_url, CELERY_BROKER_URL=own.broker_url, REDIS_PREFIX=f"{REDIS_PREFIX}refused:"
        )


def test_a_job_whose_retry_rabbitmq_refuses_is_handed_back_and_finished(slack, refused_env, tmp_path):
    worker = start_worker(
        "refused-worker", "tasks", refused_env, tmp_path, *WORKER_OPTIONS, "--concurrency=1"
    )
    try:
        # The status message fails past slack_sdk's own retries (three, 3.5 s of backoff), so the
        # worker must retry the job itself; by then RabbitMQ refuses every publish to the queue.
        slack.fail("chat.postMessage", None, times=4, status=503)
        job = publish_ping(refused_env, CHANNEL)
        slack.wait_for(
            lambda: slack.requests("chat.postMessage"), timeout=10, message="the worker to take the job"
        )
        limit = json.dumps({"max-length": 0, "overflow": "reject-publish"})
        rabbitmqctl("set_policy", "-p", VHOST, "--apply-to", "queues", POLICY, "^reports$", limit)
        try:
            status = wait_succeeded(slack, CHANNEL, job, timeout=30)
        finally:
            rabbitmqctl("clear_policy", "-p", VHOST, POLICY)
        assert [m.ts for m in slack.messages(CHANNEL)] == [status.ts], "one status message"
        replies = slack.thread(CHANNEL, status.ts)
        assert len(replies) == 1 and replies[0].text.startswith("pong"), "one result"
        assert "could not be queued" in worker.log(), "the refused retry is in the worker's log"
    finally:
        worker.stop()
