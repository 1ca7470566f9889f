"""`python run.py` on a new user's machine: no .env, no Slack app, no broker, no Redis configured.

It prints one line, the sandbox's address, and the whole pipeline works behind that page: a slash
command typed there reaches the real bot (signed as Slack signs it), a job runs on the in-process
worker over the in-memory transport, and a schedule posts into the sandbox channel.
"""

from __future__ import annotations

import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.sandbox_process import SandboxProcess, new_user_env, run_sandbox, spawn_sandbox, wait_for_state
from tests.support import wait_until

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")


def job_id_in(text: str) -> str:
    """The id of the job the answer names; the test fails here, showing the answer, if it names none."""
    match = JOB_ID.search(text)
    assert match, text
    return match.group(1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    # The schedules test needs a short interval; nothing here names Slack, a broker or Redis.
    with run_sandbox(tmp_path_factory.mktemp("local"), SCHEDULE_MIN_INTERVAL="1") as proc:
        yield proc


def channel(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in snapshot["channels"] if c["id"] == "C0SANDBOX")


def finished_with(job_id: str, word: str):
    """A predicate on the snapshot: job_id's status message has finished and its thread says word."""

    def check(snapshot: dict[str, Any]) -> dict[str, Any] | None:
        for m in channel(snapshot)["messages"]:
            if m["kind"] == "message" and job_id in m["text"] and "succeeded" in m["text"]:
                if any(word in r["text"] for r in m["replies"]):
                    return m
        return None

    return check


def test_it_prints_exactly_one_line_the_sandbox_address(sandbox: SandboxProcess) -> None:
    assert sandbox.stdout() == f"reportbot sandbox: http://127.0.0.1:{sandbox.port}/\n", sandbox.output()


def test_the_address_serves_the_page(sandbox: SandboxProcess) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(sandbox.url, timeout=5) as r:
        html = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
    assert 'aria-label="Message box"' in html and "/static/app.js" in html
    with opener.open(sandbox.url + "static/app.js", timeout=5) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")


def test_a_command_sent_the_moment_the_page_answers_reaches_the_bot(tmp_path) -> None:
    """The page answers only once the bot listens: the first request that gets any answer is
    dispatched, not refused with `dispatch_failed`."""
    with spawn_sandbox(tmp_path) as proc:
        deadline = time.monotonic() + 30
        while True:
            assert proc.popen.poll() is None and time.monotonic() < deadline, proc.output()
            try:
                answer = proc.post_json("/sandbox/command", {"text": "/run-report help"})
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.005)
        assert answer["ok"] and answer["status"] == 200, answer


def test_a_ping_typed_in_the_sandbox_runs_on_the_in_process_worker(sandbox: SandboxProcess) -> None:
    answer = sandbox.post_json("/sandbox/command", {"text": "/run-report ping"})
    assert answer["ok"] and answer["status"] == 200, answer
    acks = [m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"]
    job_id = job_id_in(acks[-1]["text"])
    status = wait_for_state(sandbox, finished_with(job_id, "pong"), what=f"job {job_id} to answer pong")
    assert status["bot"]

    # The queue is the in-memory one: nothing was asked of a RabbitMQ or a Redis.
    sandbox.post_json("/sandbox/command", {"text": "/run-report queue"})
    acks = [m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"]
    queue_job = job_id_in(acks[-1]["text"])
    wait_for_state(sandbox, finished_with(queue_job, "in memory"), what="the queue report")


def test_a_schedule_added_in_the_sandbox_posts_into_the_sandbox_channel(sandbox: SandboxProcess) -> None:
    answer = sandbox.post_json("/sandbox/command", {"text": "/run-report schedule add ping every 1s"})
    assert answer["ok"], answer
    acks = [m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"]
    match = re.search(r"as `(s-[0-9a-f]+)`", acks[-1]["text"])
    assert match, acks[-1]["text"]
    schedule_id = match.group(1)

    def scheduled_runs(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            m
            for m in channel(snapshot)["messages"]
            if m["kind"] == "message"
            and schedule_id in str(m["blocks"])
            and "succeeded" in m["text"]
            and "pong" in m["text"]
            and not m["replies"]
        ]

    wait_for_state(sandbox, scheduled_runs, what=f"schedule {schedule_id} to post a ping")
    sandbox.post_json("/sandbox/command", {"text": f"/run-report schedule remove {schedule_id}"})


def test_the_thread_links_of_history_are_served_by_the_sandbox(sandbox: SandboxProcess) -> None:
    sandbox.post_json("/sandbox/command", {"text": "/run-report ping"})
    acks = [m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"]
    job_id = job_id_in(acks[-1]["text"])
    wait_for_state(sandbox, finished_with(job_id, "pong"), what=f"job {job_id} to answer pong")
    sandbox.post_json("/sandbox/command", {"text": "/run-report history"})
    acks = [m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"]
    links = re.findall(r"<(http[^|>]+)\|thread>", acks[-1]["text"])
    assert links and all(link.startswith(f"{sandbox.url}archives/C0SANDBOX/p") for link in links), acks[-1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for link in links:
        with opener.open(link, timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), link
            assert 'aria-label="Message box"' in r.read().decode()


def test_bad_input_to_the_sandbox_gets_a_specific_answer(sandbox: SandboxProcess) -> None:
    req = urllib.request.Request(
        sandbox.url + "sandbox/command", data=b'{"text": "  "}', headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(req, timeout=5)
    assert err.value.code == 400
    assert "Type a message or a command" in err.value.read().decode()


def test_with_a_broker_configured_the_sandbox_drives_real_worker_processes(services, tmp_path) -> None:
    """The same sandbox, with CELERY_BROKER_URL and REDIS_URL set: no worker runs inside it; a
    real `python run.py worker` pointed at the sandbox (its SLACK_API_URL and token) runs the job."""
    from bench.processes import Services
    from sandbox.local import SANDBOX_BOT_TOKEN
    from tests.support import BROKER_ROOT, REDIS_URL, SESSION, Process

    # A vhost of its own: the session's shared worker must not take this job.
    own = Services(BROKER_ROOT, REDIS_URL, name=f"{SESSION}-sandbox")
    real = {"CELERY_BROKER_URL": own.broker_url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": own.redis_prefix}
    with own, run_sandbox(tmp_path, **real) as sandbox:
        env = {
            **new_user_env(**real),
            "SLACK_API_URL": sandbox.url + "api/",
            "SLACK_BOT_TOKEN": SANDBOX_BOT_TOKEN,
            "WORKER_METRICS_PORT": "0",
            "LOG_LEVEL": "INFO",
        }
        worker = Process(
            "sandbox-worker", [sys.executable, "run.py", "worker", "-n", "sandbox-real@%h"], env, tmp_path
        )
        try:
            wait_until(lambda: "ready." in worker.log() or not worker.alive(), 60, what="the real worker")
            assert worker.alive(), worker.log()
            sandbox.post_json("/sandbox/command", {"text": "/run-report ping"})
            acks = [
                m for m in channel(sandbox.get_json("/sandbox/state"))["messages"] if m["kind"] == "ephemeral"
            ]
            job_id = job_id_in(acks[-1]["text"])
            wait_for_state(sandbox, finished_with(job_id, "pong"), what=f"job {job_id} on the real worker")
            assert f"[{job_id}] received" in worker.log(), "the job ran in the real worker process"
        finally:
            worker.stop()
