"""Shared fixtures: the real services, the fake Slack, and real bot and worker processes.

Slack is faked only at its HTTP boundary (`sandbox.FakeSlack`), and the bot and the worker run
as the same processes a user starts, with `SLACK_API_URL` pointed at the fake. What the fixtures
are built from (this session's services, the secrets, process helpers) is `tests/support.py`.

A test marked `unit` needs no service: one that asks for a service fixture fails at setup, and
its connections to Redis, RabbitMQ or PostgreSQL are refused at once with a message naming the
service, so it neither waits on a server that is not there nor passes because one happens to be up.
"""

from __future__ import annotations

import errno
import faulthandler
import os
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import (
    APP_TOKEN,
    BOT_TOKEN,
    BROKER_ROOT,
    BROKER_URL,
    REDIS_URL,
    SERVICES,
    SIGNING_SECRET,
    WORKER_OPTIONS,
    Process,
    base_env,
    start_bot,
    start_worker,
)

# The fixtures that start or reach a service: a unit test asks for none of them. (`pg_table`, of
# tests/tasks/test_sql_reports.py, is named here because libpq connects outside Python's sockets.)
SERVICE_FIXTURES = frozenset({"services", "worker", "http_bot", "socket_bot", "pg_table"})
DEFAULT_PORTS = {"Redis": 6379, "RabbitMQ": 5672, "PostgreSQL": 5432}


def _service_addresses() -> dict[tuple[str, int], str]:
    """(host, port) of each service a unit test may not reach, and the service's name."""
    redis = urllib.parse.urlsplit(REDIS_URL)
    broker = urllib.parse.urlsplit(BROKER_ROOT)
    ports = {port: name for name, port in DEFAULT_PORTS.items()}
    ports[redis.port or DEFAULT_PORTS["Redis"]] = "Redis"
    ports[broker.port or DEFAULT_PORTS["RabbitMQ"]] = "RabbitMQ"
    hosts = {"127.0.0.1", "localhost", "::1", redis.hostname or "", broker.hostname or ""} - {""}
    return {(host, port): name for host in hosts for port, name in ports.items()}


# The whole suite runs in under 10 minutes; past this it is stuck somewhere no test's own timeout
# reaches (a finalizer after a timed-out test, say): print every thread's stack and exit non-zero,
# so a run fails in minutes and says where, instead of using up CI's time in silence.
SESSION_LIMIT_S = float(os.environ.get("TEST_SESSION_LIMIT_S", "1800"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the watchdog for the whole session (see SESSION_LIMIT_S)."""

    capture = session.config.pluginmanager.getplugin("capturemanager")

    def watch() -> None:
        if not finished.wait(SESSION_LIMIT_S):
            if capture is not None:  # write to the real stderr, not a test's captured one
                capture.suspend_global_capture(in_=True)
            sys.stderr.write(f"\nthe test session ran past {SESSION_LIMIT_S:g} s; every thread's stack:\n")
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
            os._exit(3)

    threading.Thread(target=watch, name="session-watchdog", daemon=True).start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    finished.set()


finished = threading.Event()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A Hypothesis test's timeout stops the whole run (pytest-timeout's thread method: every
    stack printed, exit 1). The default method raises inside the test, and Hypothesis takes that
    for one more failing example and goes on shrinking, long past the timeout."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.timeout(method="thread"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A unit test that asks for a service fixture fails here, before the fixture starts anything."""
    if item.get_closest_marker("unit") is None:
        return
    wanted = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if wanted:
        pytest.fail(f"a unit test needs no services, but {item.nodeid} asks for {sorted(wanted)}")


@pytest.fixture(autouse=True)
def _no_services_in_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a test marked `unit`, a connection to Redis, RabbitMQ or PostgreSQL is refused at once,
    with a message that names the service, whether or not the server is up: a unit test that
    needs one fails the same on every machine, and one that expects a service to be down (its
    port closed) sees what it expects."""
    if request.node.get_closest_marker("unit") is None:
        return
    forbidden = _service_addresses()
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(address: Any) -> None:
        if isinstance(address, tuple) and len(address) >= 2:
            service = forbidden.get((str(address[0]), int(address[1])))
            if service:
                raise ConnectionRefusedError(
                    errno.ECONNREFUSED,
                    f"a unit test may not connect to {service} at {address[0]}:{address[1]}",
                )

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        refuse(address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        refuse(address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


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
def slack_server() -> Iterator:
    from sandbox import FakeSlack

    server = FakeSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def slack(slack_server):
    """The fake Slack, emptied of earlier tests' messages and faults."""
    slack_server.reset()
    return slack_server


@pytest.fixture(scope="session")
def worker(services, slack_server, tmp_path_factory) -> Iterator[Process]:
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


@pytest.fixture(scope="session")
def http_bot(services, slack_server, tmp_path_factory) -> Iterator[Process]:
    """`python run.py bot` serving HTTP; the fake Slack posts commands to it, signed."""
    proc, port = start_bot(slack_server, tmp_path_factory.mktemp("http-bot"), "http-bot")
    proc.port = port
    slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def socket_bot(services, slack_server, tmp_path_factory) -> Iterator[Process]:
    """`python run.py bot` with SLACK_APP_TOKEN set: Socket Mode against the fake."""
    proc, port = start_bot(
        slack_server, tmp_path_factory.mktemp("socket-bot"), "socket-bot", SLACK_APP_TOKEN=APP_TOKEN
    )
    proc.port = port
    assert slack_server.socket_connected(timeout=15), proc.log()
    yield proc
    proc.stop()
