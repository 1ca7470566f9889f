"""Real reportbot processes on the real RabbitMQ and Redis, for the bench and the tests alike.

Several runs may share one RabbitMQ and one Redis (a developer's tests, CI, a bench run), so each
run touches only what is its own: a fresh virtual host (`rabbitmqctl add_vhost`) and a Redis key
prefix, both removed at the end. Processes are started the way a user starts them
(`python run.py bot`, `python run.py worker`), their output kept in a log file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret-0123456789"
BOT_TOKEN = "xoxb-bench-0000-secret-token"
T = TypeVar("T")

# slack_sdk applies HTTP(S)_PROXY and ignores NO_PROXY: nothing may leave loopback.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until `predicate()` is truthy; raise with `what` when it never is."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (KiB); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, reaped_children: bool = True) -> float:
    """CPU time (user + system) of a process, from /proc; 0 when it is gone. With
    `reaped_children`, also that of its children that have exited, so a pool process replaced
    mid-burst (worker_max_memory_per_child) still counts."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11 : 15 if reaped_children else 13]) / CLOCK_TICKS


def pids_of(name: str) -> list[int]:
    """The processes called exactly `name` (a server the bench shares: beam.smp, redis-server)."""
    try:
        out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def children(pid: int) -> list[int]:
    """Direct children of `pid` (a prefork worker's pool processes)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Process:
    """One process of the bench, started in its own session so it can be stopped whole."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.port = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited ({self.popen.returncode}); its log:\n{self.log()[-3000:]}"
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop the whole process group (a worker and its pool) with `sig`, then SIGKILL."""
        if self.alive():
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()


class Services:
    """This bench run's vhost on the real RabbitMQ and key prefix on the real Redis."""

    def __init__(
        self,
        broker_root: str,
        redis_url: str,
        name: str = "",
        bot_token: str = BOT_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        queue_type: str = "classic",
        queue_version: int | None = None,
    ) -> None:
        self.name = name or f"reportbot-bench-{os.getpid()}"
        self.bot_token, self.signing_secret = bot_token, signing_secret
        self.queue_type = queue_type  # CELERY_QUEUE_TYPE of our processes (the vhost is new, so either works)
        # How RabbitMQ stores the vhost's classic queues, for every process of the run, set by a
        # policy (None: the node's default, and no policy to shadow one a test sets): version 2 is
        # RabbitMQ's default from 4.2 and what deploy/ sets up; up to 4.1 a queue starts on version
        # 1 unless a policy or the node's configuration says otherwise (deploy/README.md).
        self.queue_version = queue_version
        self.broker_url = f"{broker_root.rstrip('/')}/{self.name}"
        self.redis_url = redis_url
        self.redis_prefix = f"{self.name}:"

    def __enter__(self) -> Services:
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        if self.queue_version is not None:
            rabbitmqctl(
                "set_policy",
                "-p",
                self.name,
                "queue-version",
                ".*",
                json.dumps({"queue-version": self.queue_version}),
                "--apply-to",
                "queues",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            rabbitmqctl("delete_vhost", self.name)
        finally:
            import redis

            r = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
            keys = list(r.scan_iter(f"{self.redis_prefix}*", count=1000))
            for i in range(0, len(keys), 1000):
                r.delete(*keys[i : i + 1000])

    def env(self, slack_api_url: str, **extra: str) -> dict[str, str]:
        """The environment of a process of this run: the fake Slack, this run's vhost and prefix,
        and none of the caller's own reportbot settings."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CELERY_", "REDIS_", "REPORT"))
        }
        env.update(
            {
                "SLACK_BOT_TOKEN": self.bot_token,
                "SLACK_SIGNING_SECRET": self.signing_secret,
                "SLACK_API_URL": slack_api_url,
                "CELERY_BROKER_URL": self.broker_url,
                "REDIS_URL": self.redis_url,
                "REDIS_PREFIX": self.redis_prefix,
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "WARNING",
                "CELERY_QUEUE_TYPE": self.queue_type,
                # The bench (and tests of bursts) send one user's hundreds of commands on purpose;
                # the cap on them is tested where it is the subject, with a value of its own.
                "JOBS_PER_USER": "0",
            }
        )
        env.update(extra)
        return env


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def rabbitmqctl_rows(*args: str) -> list[tuple[str, ...]]:
    """A `rabbitmqctl list_…` command's rows, split into their tab-separated columns."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "--no-table-headers", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line.strip()]


def start_http(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Process:
    """Start a process serving HTTP on a free port; return once its /healthz answers."""
    port = free_port()
    proc = Process(name, argv, {**env, "PORT": str(port)}, logs)
    proc.port = port

    def healthy() -> bool:
        proc.check()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    _ready_or_stop(proc, healthy, f"{name} /healthz")
    return proc


def _ready_or_stop(proc: Process, ready: Callable[[], bool], what: str) -> None:
    """Wait for `proc` to be ready; stop it when it never is, so no process outlives a bench."""
    try:
        wait_until(ready, 90, what=what)
    except BaseException:
        proc.stop()
        raise


def start_worker(
    name: str, app_module: str, env: dict[str, str], logs: Path, *extra: str, celery_cli: bool = False
) -> Process:
    """A Celery worker, once ready: `run.py worker` for ours, plain `celery -A` for the others (and
    for ours with `celery_cli`, the way Celery's documentation starts one). Stopped if it never is."""
    node = f"{name}-{os.getpid()}@%h"
    if app_module == "tasks" and not celery_cli:
        argv = [sys.executable, "run.py", "worker", "-n", node, *extra]
    else:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app_module,
            "worker",
            "--loglevel=INFO",
            "-n",
            node,
            *extra,
        ]
    proc = Process(name, argv, {**env, "LOG_LEVEL": "INFO"}, logs)

    def ready() -> bool:
        proc.check()  # a worker that exited is an error, not a wait
        return "ready." in proc.log()

    _ready_or_stop(proc, ready, f"{name} to be ready")
    return proc


PY = sys.executable
