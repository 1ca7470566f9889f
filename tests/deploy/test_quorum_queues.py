"""CELERY_QUEUE_TYPE=quorum, against the real RabbitMQ: the queue a cluster would replicate.

A virtual host of its own (a queue's type is fixed when first declared, and other tests use
classic queues), a real worker started with the setting, and a job published by the bot's own
publisher: the job runs and its result reaches Slack, from a queue RabbitMQ reports as quorum.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from bot.publish import Publisher
from tasks.jobs import Job, new_job_id
from tasks.settings import load_settings
from tests.conftest import (
    BROKER_ROOT,
    REDIS_PREFIX,
    REDIS_URL,
    SESSION,
    WORKER_OPTIONS,
    Services,
    base_env,
    start_worker,
)

VHOST = f"{SESSION}-quorum"
CHANNEL = "C0QUORUM"


def listed(what: str, *columns: str) -> set[tuple[str, ...]]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "--no-table-headers", f"list_{what}", "-p", VHOST, *columns],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    return {tuple(line.split("\t")) for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def quorum_env(services, slack_server) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    with Services(BROKER_ROOT, REDIS_URL, name=VHOST) as own:
        yield base_env(
            slack_server.api_url,
            CELERY_BROKER_URL=own.broker_url,
            CELERY_QUEUE_TYPE="quorum",
            REDIS_PREFIX=f"{REDIS_PREFIX}quorum:",
        )


def test_a_job_runs_through_a_quorum_queue_when_the_setting_asks(slack, quorum_env, tmp_path):  # type: ignore[no-untyped-def]
    worker = start_worker("quorum-worker", "tasks", quorum_env, tmp_path, *WORKER_OPTIONS, "--concurrency=1")
    try:
        assert ("reports", "quorum") in listed("queues", "name", "type")
        # Native delayed delivery (ETA, countdown, retry backoff) needs a topic exchange.
        assert ("reports", "topic") in listed("exchanges", "name", "type")

        settings = load_settings(quorum_env, dotenv=None)
        job = Job(id=new_job_id(), report="ping", args={}, channel=CHANNEL, user="U0ALICE", requested_at=time.time())
        Publisher(settings).publish(job, time_limit=10)

        status = slack.wait_for(
            lambda: [m for m in slack.messages(CHANNEL) if job.id in str(m.blocks) and "succeeded" in str(m.blocks)],
            timeout=20,
            message=f"job {job.id} to succeed",
        )[0]
        assert "pong" in slack.thread(CHANNEL, status.ts)[0].text
    finally:
        worker.stop()
