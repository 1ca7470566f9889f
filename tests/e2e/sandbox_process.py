"""`python run.py` started as a new user starts it: no .env values, no Slack, broker or Redis.

Shared by the local-mode tests and the browser tests. Its stdout and stderr are kept apart, so a
test can check that it prints exactly one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import ROOT, free_port, wait_until

# What a new user's environment lacks: every setting that would point at Slack, a broker or Redis.
UNSET_PREFIXES = ("SLACK_", "CELERY_", "REDIS_", "REPORT", "PORT")


@dataclass
class SandboxProcess:
    popen: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def output(self) -> str:
        return f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr_path.read_text(errors='replace')}"

    def get_json(self, path: str) -> Any:
        with _opener().open(self.url + path.lstrip("/"), timeout=5) as r:
            return json.loads(r.read())

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with _opener().open(req, timeout=10) as r:
            return json.loads(r.read())


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def new_user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


@contextmanager
def spawn_sandbox(tmp: Path, **extra_env: str) -> Iterator[SandboxProcess]:
    """Start `python run.py` on a free port and yield at once, for a test that knocks on the
    port before anyone could have read its address; stop it on exit."""
    if (ROOT / ".env").exists():
        raise AssertionError(
            f"{ROOT / '.env'} would configure the process; these tests need a clean checkout"
        )
    port = free_port()
    stdout_path, stderr_path = tmp / "run-py.stdout", tmp / "run-py.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        popen = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=ROOT,
            env=new_user_env(PORT=str(port), **extra_env),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield SandboxProcess(popen, port, stdout_path, stderr_path)
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(5)


@contextmanager
def run_sandbox(tmp: Path, **extra_env: str) -> Iterator[SandboxProcess]:
    """Start `python run.py` on a free port; yield once it printed its address."""
    with spawn_sandbox(tmp, **extra_env) as proc:
        wait_until(
            # The whole line: unbuffered, print() writes the text and its newline separately.
            lambda: re.search(r"sandbox: \S+\n", proc.stdout()) or proc.popen.poll() is not None,
            30,
            what="`python run.py` to print its address",
        )
        assert proc.popen.poll() is None, proc.output()
        yield proc


def wait_for_state(proc: SandboxProcess, predicate: Any, timeout: float = 20.0, what: str = "") -> Any:
    """Poll the sandbox's JSON snapshot until ``predicate(snapshot)`` is truthy; return its value."""
    last: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = proc.get_json("/sandbox/state")
        value = predicate(last)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}; the sandbox shows:\n{json.dumps(last, indent=1)[:4000]}"
    )
