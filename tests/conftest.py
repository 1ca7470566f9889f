"""Shared fixtures: the real services, the fake Slack, and real bot and worker processes.

RabbitMQ and Redis are the real servers on loopback; each test session gets its own RabbitMQ
virtual host and Redis key prefix, so two runs on one machine (or a developer's worker left
running) never take each other's jobs. Slack is faked only at its HTTP boundary
(`sandbox.FakeSlack`), and the bot and the worker run as the same processes a user starts,
with `SLACK_API_URL` pointed at the fake. Starting and stopping them is `bench.processes`, which
the bench uses too.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tasks.jobs.records import Job
    from tasks.worker.runtime import Runtime

from bench.processes import (
    ROOT,
    Process,
    Services,
    free_port,
    rabbitmqctl,
    start_http,
    start_worker,
    wait_until,
)

__all__ = [
    "ROOT",
    "Process",
    "Services",
    "base_env",
    "free_port",
    "rabbitmqctl",
    "start_bot",
    "start_http",
    "start_worker",
    "wait_until",
    "worker_runtime",
]

SESSION = f"reportbot-test-{os.getpid()}"
BROKER_ROOT = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-0000-secret-token"
APP_TOKEN = "xapp-test-0000-secret-token"
TEST_REPORTS = "tests.sample_reports,tests.rich_reports"
SERVICES = Services(BROKER_ROOT, REDIS_URL, name=SESSION, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
BROKER_URL = SERVICES.broker_url
REDIS_PREFIX = SERVICES.redis_prefix
# A test worker joins no cluster chatter: it starts faster and hears no other session's workers.
WORKER_OPTIONS = ("--without-gossip", "--without-mingle")


def worker_runtime(slack, *reports) -> Runtime:  # type: ignore[no-untyped-def]
    """A worker's runtime in this process, against the fake Slack `slack` and the real Redis,
    under a key prefix of its own: for tests that call `run_job` directly. Given `reports`
    (`tasks.reports.Report`), it knows those alone instead of REPORT_MODULES'."""
    import uuid

    from tasks.reports import Registry
    from tasks.settings import Settings
    from tasks.worker.runtime import Runtime

    runtime = Runtime(
        Settings(
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.api_url,
            redis_url=REDIS_URL,
            redis_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:6]}:",
        )
    )
    if reports:
        registry = Registry()
        for report in reports:
            registry.add(report)
        runtime.__dict__["registry"] = registry  # in place of the cached_property's
    return runtime


def base_env(slack_api_url: str, **extra: str) -> dict[str, str]:
    """A test process's environment: this session's services, the fake Slack, the test reports."""
    defaults = {
        "REPORT_MODULES": TEST_REPORTS,
        "LOG_LEVEL": "INFO",
        # A test that wants a worker's metrics endpoint asks for its own free port.
        "WORKER_METRICS_PORT": "0",
    }
    return SERVICES.env(slack_api_url, **{**defaults, **extra})


@pytest.fixture(scope="session")
def services() -> Iterator[None]:
    """The real RabbitMQ (a virtual host of this session's) and Redis (a key prefix of its own)."""
    import redis
    from kombu import Connection

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not answering ({exc}); .ci/run starts it")
    try:
        SERVICES.__enter__()
        with Connection(BROKER_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {BROKER_URL} is not answering ({exc}); .ci/run starts it")
    yield
    SERVICES.__exit__(None, None, None)


@pytest.fixture(scope="session")
def slack_server() -> Iterator:  # type: ignore[type-arg]
    from sandbox import FakeSlack

    server = FakeSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def slack(slack_server):  # type: ignore[no-untyped-def]
    """The fake Slack, emptied of earlier tests' messages and faults."""
    slack_server.reset()
    return slack_server


@pytest.fixture(scope="session")
def worker(services, slack_server, tmp_path_factory) -> Iterator[Process]:  # type: ignore[no-untyped-def]
    """A real Celery worker, started as Celery's documentation says: `celery -A tasks worker`."""
    proc = start_worker(
        "test",
        "tasks",
        base_env(slack_server.api_url, REPORT_TIME_LIMIT="4"),
        tmp_path_factory.mktemp("worker"),
        *WORKER_OPTIONS,
        "--concurrency=2",
        celery_cli=True,
    )
    yield proc
    proc.stop()


def publish_ping(env: dict[str, str], channel: str) -> Job:
    """A `ping` job for ALICE in `channel`, published as the bot publishes it, with `env`'s settings."""
    from bot.publish import Publisher
    from tasks.jobs.records import Job, new_job_id
    from tasks.settings import load_settings

    job = Job(
        id=new_job_id(), report="ping", args={}, channel=channel, user="U0ALICE", requested_at=time.time()
    )
    Publisher(load_settings(env, dotenv=None)).publish(job, time_limit=10)
    return job


def wait_succeeded(slack, channel: str, job: Job, timeout: float = 20):  # type: ignore[no-untyped-def]
    """The job's status message, once it says succeeded and its result is in the thread (a quick
    report's status message is posted finished, a moment before the result)."""
    return slack.wait_for(
        lambda: [
            m
            for m in slack.messages(channel)
            if job.id in str(m.blocks) and "succeeded" in str(m.blocks) and slack.thread(channel, m.ts)
        ],
        timeout=timeout,
        message=f"job {job.id} to succeed",
    )[0]


def start_bot(slack_server, tmp: Path, name: str, **env: str) -> tuple[Process, int]:  # type: ignore[no-untyped-def]
    """`python run.py bot` on a free port, once its /healthz answers (stopped if it never does)."""
    proc = start_http(name, [sys.executable, "run.py", "bot"], base_env(slack_server.api_url, **env), tmp)
    return proc, proc.port


@pytest.fixture(scope="session")
def http_bot(services, slack_server, tmp_path_factory) -> Iterator[Process]:  # type: ignore[no-untyped-def]
    """`python run.py bot` serving HTTP; the fake Slack posts commands to it, signed."""
    proc, port = start_bot(slack_server, tmp_path_factory.mktemp("http-bot"), "http-bot")
    proc.port = port  # type: ignore[attr-defined]
    slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def socket_bot(services, slack_server, tmp_path_factory) -> Iterator[Process]:  # type: ignore[no-untyped-def]
    """`python run.py bot` with SLACK_APP_TOKEN set: Socket Mode against the fake."""
    proc, port = start_bot(
        slack_server, tmp_path_factory.mktemp("socket-bot"), "socket-bot", SLACK_APP_TOKEN=APP_TOKEN
    )
    proc.port = port  # type: ignore[attr-defined]
    assert slack_server.socket_connected(timeout=15), proc.log()
    yield proc
    proc.stop()
