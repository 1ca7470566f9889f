"""Shared fixtures: the real services, the fake Slack, and real bot and worker processes.

RabbitMQ and Redis are the real servers on loopback (tests use Redis database 15 and purge the
`reports` queue first). Slack is faked only at its HTTP boundary (`bot.sandbox.FakeSlack`), and
the bot and the worker run as the same processes a user starts, with `SLACK_API_URL` pointed at
the fake.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each test session gets its own RabbitMQ virtual host and Redis key prefix, so two runs on one
# machine (or a developer's worker left running) never take each other's jobs.
SESSION = f"reportbot-test-{os.getpid()}"
BROKER_ROOT = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672")
BROKER_URL = f"{BROKER_ROOT}/{SESSION}"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_PREFIX = f"{SESSION}:"
SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-0000-secret-token"
APP_TOKEN = "xapp-test-0000-secret-token"
TEST_REPORTS = "tests.sample_reports,tests.rich_reports"

# slack_sdk applies HTTP(S)_PROXY and ignores NO_PROXY: nothing may leave loopback.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Process:
    """A reportbot process started as a user would, its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name = name
        self.log_path = tmp / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()


def base_env(slack_api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CELERY_", "REDIS_", "REPORT"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_api_url,
            "CELERY_BROKER_URL": BROKER_URL,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": REDIS_PREFIX,
            "REPORT_MODULES": TEST_REPORTS,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            # A test that wants a worker's metrics endpoint asks for its own free port.
            "WORKER_METRICS_PORT": "0",
        }
    )
    env.update(extra)
    return env


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def clear_redis_prefix() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    keys = list(r.scan_iter(f"{REDIS_PREFIX}*", count=1000))
    if keys:
        r.delete(*keys)


@pytest.fixture(scope="session")
def services() -> Iterator[None]:
    """The real RabbitMQ (a virtual host of this session's) and Redis (a key prefix of its own)."""
    import redis
    from kombu import Connection

    try:
        clear_redis_prefix()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not answering ({exc}); .ci/run starts it")
    try:
        rabbitmqctl("add_vhost", SESSION)
        rabbitmqctl("set_permissions", "-p", SESSION, "guest", ".*", ".*", ".*")
        with Connection(BROKER_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {BROKER_URL} is not answering ({exc}); .ci/run starts it")
    yield
    try:
        rabbitmqctl("delete_vhost", SESSION)
        clear_redis_prefix()
    except Exception:
        pass


@pytest.fixture(scope="session")
def slack_server() -> Iterator:  # type: ignore[type-arg]
    from bot.sandbox import FakeSlack

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
    tmp = tmp_path_factory.mktemp("worker")
    proc = Process(
        "worker",
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--loglevel=INFO", "--concurrency=2",
         "-n", f"test-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        base_env(slack_server.api_url, REPORT_TIME_LIMIT="4"),
        tmp,
    )
    wait_until(lambda: "ready." in proc.log() or not proc.alive(), 60, what="the worker to be ready")
    assert proc.alive(), proc.log()
    yield proc
    proc.stop()


def start_bot(slack_server, tmp: Path, name: str, **env: str) -> tuple[Process, int]:  # type: ignore[no-untyped-def]
    port = free_port()
    proc = Process(
        name, [sys.executable, "run.py", "bot"], base_env(slack_server.api_url, PORT=str(port), **env), tmp
    )

    def healthy() -> bool:
        if not proc.alive():
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(healthy, 30, what=f"{name} /healthz")
    assert proc.alive(), proc.log()
    return proc, port


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
