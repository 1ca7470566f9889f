"""What tests share besides fixtures: this session's services, the test secrets, and helpers to
start real processes and build a worker's runtime in process.

RabbitMQ and Redis are the real servers on loopback; each test session gets its own RabbitMQ
virtual host and Redis key prefix, so two runs on one machine (or a developer's worker left
running) never take each other's jobs. Starting and stopping processes is `bench.processes`,
which the bench uses too. The fixtures built from these are in `tests/conftest.py`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from sandbox import FakeSlack
    from tasks.jobs.records import Job
    from tasks.reports import Report
    from tasks.settings import Settings
    from tasks.slack.pacing import Pacing
    from tasks.worker.runtime import Runtime

__all__ = [
    "APP_TOKEN",
    "Clock",
    "BOT_TOKEN",
    "BROKER_ROOT",
    "BROKER_URL",
    "REDIS_PREFIX",
    "REDIS_URL",
    "ROOT",
    "SERVICES",
    "SESSION",
    "SIGNING_SECRET",
    "TEST_REPORTS",
    "WORKER_OPTIONS",
    "Process",
    "Services",
    "base_env",
    "bolt_settings",
    "free_port",
    "publish_ping",
    "rabbitmqctl",
    "start_bot",
    "start_http",
    "start_worker",
    "wait_succeeded",
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


class Clock:
    """A clock the test moves (`advance`) instead of sleeping: for a `Pacing` or a `FakeSlack`."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bolt_settings(slack: FakeSlack, label: str, **extra: Any) -> Settings:
    """The settings of a Bolt app built in this process (`bot.app.build_app`) against the fake
    Slack, this session's broker and Redis, under a key prefix of its own (`label` names it)."""
    from tasks.settings import Settings

    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        celery_broker_url=BROKER_URL,
        redis_url=REDIS_URL,
        redis_prefix=f"{REDIS_PREFIX}{label}-{uuid.uuid4().hex[:8]}:",
        report_modules=tuple(TEST_REPORTS.split(",")),
        **extra,
    )


def worker_runtime(slack: FakeSlack, *reports: Report, pacing: Pacing | None = None) -> Runtime:
    """A worker's runtime in this process, against the fake Slack `slack` and the real Redis,
    under a key prefix of its own: for tests that call `run_job` directly. Given `reports`, it
    knows those alone instead of REPORT_MODULES'; given `pacing`, that one (on a test's clock)."""
    from tasks.reports import Registry
    from tasks.settings import Settings
    from tasks.worker.runtime import Runtime

    registry = None
    if reports:
        registry = Registry()
        for report in reports:
            registry.add(report)
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        redis_url=REDIS_URL,
        redis_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:6]}:",
    )
    return Runtime(settings, registry=registry, pacing=pacing)


def base_env(slack_api_url: str, **extra: str) -> dict[str, str]:
    """A test process's environment: this session's services, the fake Slack, the test reports."""
    defaults = {
        "REPORT_MODULES": TEST_REPORTS,
        "LOG_LEVEL": "INFO",
        # A test that wants a worker's or beat's metrics endpoint asks for its own free port.
        "WORKER_METRICS_PORT": "0",
        "BEAT_METRICS_PORT": "0",
    }
    return SERVICES.env(slack_api_url, **{**defaults, **extra})


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


def wait_succeeded(slack, channel: str, job: Job, timeout: float = 20):
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


def start_bot(slack_server, tmp: Path, name: str, **env: str) -> tuple[Process, int]:
    """`python run.py bot` on a free port, once its /healthz answers (stopped if it never does)."""
    proc = start_http(name, [sys.executable, "run.py", "bot"], base_env(slack_server.api_url, **env), tmp)
    return proc, proc.port
