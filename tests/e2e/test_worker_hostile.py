"""Reports that misbehave, against the real bot, worker and beat processes: every job ends, and no
secret in a report's error reaches Slack.

- a report that swallows its soft time limit is killed at the hard one: its job ends failed,
  its status message final, its record failed, its requester told;
- a report whose pool process dies every time ends failed instead of being handed back forever;
- a record left running past its hard limit and a grace (its worker lost for good) is closed by
  beat;
- a report's error with credentials in it: the channel gets its kind and the job id, the
  worker's log the error with every credential redacted.

Jobs go through a RabbitMQ virtual host of this module's own, so only its worker takes them.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.secret_shapes import secrets_in
from tests.support import (
    BOT_TOKEN,
    BROKER_ROOT,
    REDIS_URL,
    SESSION,
    SIGNING_SECRET,
    TEST_REPORTS,
    WORKER_OPTIONS,
    Process,
    Services,
    start_http,
    start_worker,
    wait_until,
)

HOSTILE = Services(
    BROKER_ROOT, REDIS_URL, name=f"{SESSION}-hostile", bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET
)
REPORTS = f"{TEST_REPORTS},tests.fault_reports"
JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
ALICE = "U0ALICE"
LEAKED = ("Hunter2", "AKIAIOSFODNN7EXAMPLE", "xoxp-1234-abcd")


class Rig:
    def __init__(self, slack_server: Any, tmp: Path) -> None:
        self.tmp = tmp
        self.env = HOSTILE.env(
            slack_server.api_url, REPORT_MODULES=REPORTS, LOG_LEVEL="INFO", WORKER_METRICS_PORT="0"
        )
        self.bot = start_http("hostile-bot", [sys.executable, "run.py", "bot"], self.env, tmp)
        self.bot_url = f"http://127.0.0.1:{self.bot.port}/slack/events"
        self.worker = start_worker(
            "hostile", "tasks", self.env, tmp, *WORKER_OPTIONS, "--concurrency=2", celery_cli=True
        )
        self.logs = [self.bot.log_path, self.worker.log_path]

    def records(self) -> Any:
        from tasks.jobs.records import JobRecords
        from tasks.store import RedisStore

        return JobRecords(RedisStore(REDIS_URL, prefix=HOSTILE.redis_prefix))

    def start_beat(self) -> Process:
        proc = Process("hostile-beat", [sys.executable, "run.py", "beat"], self.env, self.tmp)
        self.logs.append(proc.log_path)
        wait_until(lambda: "beat: Starting" in proc.log() or not proc.alive(), 30, what="beat to start")
        assert proc.alive(), proc.log()
        return proc


@pytest.fixture(scope="module")
def rig(services, slack_server, tmp_path_factory) -> Iterator[Rig]:
    HOSTILE.__enter__()
    rig = Rig(slack_server, tmp_path_factory.mktemp("hostile"))
    yield rig
    rig.worker.stop()
    rig.bot.stop()
    HOSTILE.__exit__(None, None, None)


@pytest.fixture
def env(rig, slack) -> Iterator[Rig]:
    """This module's bot for Slack's commands; afterwards, no credential of any shape in
    anything Slack was sent (messages, thread replies, edits, ephemerals)."""
    previous, slack.bot_url = slack.bot_url, rig.bot_url
    yield rig
    slack.bot_url = previous
    seen = [
        m.text + str(m.blocks) + str(m.edits) for ms in slack.workspace.all_messages().values() for m in ms
    ]
    seen += [e.text + str(e.blocks) for e in slack.ephemerals()]
    leaked = [found for text in seen for found in secrets_in(text)]
    assert not leaked, f"credentials in Slack: {leaked}"


def run(slack, text: str, channel: str) -> str:
    """Type `/run-report text` in `channel`; the job id from the ack."""
    response = slack.send_command("/run-report", text, channel=channel, user=ALICE)
    assert response.ok and response.elapsed < 3.0, response
    match = JOB_ID.search(str(response.body))
    assert match, response.body
    return match.group(1)


def status_of(slack, channel: str, job_id: str) -> Any:
    found = [m for m in slack.messages(channel) if f"job `{job_id}`" in str(m.blocks)]
    assert len(found) <= 1, f"job {job_id} has {len(found)} status messages"
    return found[0] if found else None


def section(message: Any) -> str:
    return " ".join(
        str((b.get("text") or {}).get("text", "")) for b in message.blocks or [] if b["type"] == "section"
    )


def buttons(message: Any) -> list[str]:
    return [e["text"]["text"] for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


def wait_status(slack, channel: str, job_id: str, word: str, timeout: float) -> Any:
    def said() -> Any:
        message = status_of(slack, channel, job_id)
        return message if message is not None and word in section(message) else None

    return slack.wait_for(said, timeout=timeout, message=f"job {job_id}'s status message to say {word!r}")


def recorded(slack, channel: str, job_id: str) -> str:
    """What `status <job_id>` answers in the channel."""
    response = slack.send_command("/run-report", f"status {job_id}", channel=channel, user=ALICE)
    return str(response.body)


def assert_ended_failed(slack, channel: str, job_id: str, words: str) -> Any:
    """The job's status message says failed, with nothing left to cancel; its thread and the
    requester say why; `status` says failed."""
    final = wait_status(slack, channel, job_id, "failed", timeout=45)
    assert final.edits, "the running status message was updated, not a new one posted"
    assert buttons(final) == ["Run again"], buttons(final)
    replies = slack.wait_for(
        lambda: slack.thread(channel, final.ts), timeout=10, message="the reason in the thread"
    )
    assert len(replies) == 1 and words in replies[0].text, [r.text for r in replies]
    told = slack.wait_for(
        lambda: [
            e for e in slack.ephemerals(user=ALICE, channel=channel) if job_id in e.text and words in e.text
        ],
        timeout=10,
        message="the requester to be told",
    )
    assert len(told) == 1, told
    assert wait_until(
        lambda: "*failed*" in recorded(slack, channel, job_id), 10, what="the record to say failed"
    )
    return final


def test_a_report_that_swallows_its_soft_limit_is_killed_at_the_hard_limit_and_its_job_ends(
    env, slack
) -> None:
    from tasks.jobs.queues import time_limits

    channel = "C0STUBBORN"
    _, hard = time_limits(1)  # the report's own time limit
    job_id = run(slack, "stubborn", channel)
    running = wait_status(slack, channel, job_id, "running", timeout=20)
    assert buttons(running) == ["Cancel"]

    final = assert_ended_failed(slack, channel, job_id, f"stopped at its time limit after {hard:g} s")
    assert final.ts == running.ts
    assert (
        f"Hard time limit ({hard:g}s) exceeded" in env.worker.log()
        or f"Hard time limit ({float(hard)}s)" in env.worker.log()
    )
    time.sleep(2)  # nothing more comes: the job is not redelivered to run again
    assert len(slack.messages(channel)) == 1 and len(slack.thread(channel, final.ts)) == 1
    assert env.worker.alive()


def test_a_report_whose_pool_process_dies_every_time_ends_failed_instead_of_looping(env, slack) -> None:
    channel = "C0DOOMED"
    job_id = run(slack, "doomed", channel)

    final = assert_ended_failed(slack, channel, job_id, "worker process died")
    # How long it ran, as a person reads it: a real duration, not a clock mixed with another.
    assert re.search(r"failed after [0-9][0-9.,]* (ms|s)\b", str(final.blocks)), final.blocks
    log = env.worker.log()
    assert "WorkerLostError" in log and env.worker.alive()
    time.sleep(3)  # not handed back once more
    assert len(slack.thread(channel, final.ts)) == 1
    assert env.worker.log().count(f"[{job_id}] received") <= 2


def test_a_record_left_running_past_its_hard_limit_is_closed_by_beat(env, slack) -> None:
    from slack_sdk import WebClient

    from tasks.jobs.records import Job, JobRecord, JobState, new_job_id
    from tasks.rendering.messages import status_message

    channel = "C0GONE"
    now = time.time()
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    records = env.records()
    forged = {}
    for name, deadline in (("lost", now - 60), ("alive", now + 3600)):
        job = Job(
            id=new_job_id(), report="dawdle", args={}, channel=channel, user=ALICE, requested_at=now - 600
        )
        ts = client.chat_postMessage(
            channel=channel, text="running", blocks=status_message(job, "running").block_dicts()
        )["ts"]
        records.save(
            JobRecord(job=job, state=JobState.RUNNING, started_at=now - 600, status_ts=ts, deadline=deadline)
        )
        forged[name] = job.id
    assert "*running*" in recorded(slack, channel, forged["lost"])

    beat = env.start_beat()
    try:
        assert_ended_failed(slack, channel, forged["lost"], "worker was lost")
    finally:
        beat.stop()
    alive = status_of(slack, channel, forged["alive"])
    assert "running" in section(alive) and buttons(alive) == ["Cancel"], (
        "a job within its limit is left alone"
    )
    assert "*running*" in recorded(slack, channel, forged["alive"])


def worker_log_once_it_says(rig: Rig, says: str) -> str:
    """The worker's log once it has `says`: a job's error is logged a moment after it is posted."""

    def said() -> str:
        text = rig.worker.log()
        return text if says in text else ""  # empty: not yet, read again

    return wait_until(said, 10, what="the error logged")


def test_a_reports_error_reaches_the_log_redacted_and_the_channel_only_as_its_kind(env, slack) -> None:
    channel = "C0LEAKDB"
    job_id = run(slack, "leaky-db", channel)

    final = wait_status(slack, channel, job_id, "failed", timeout=30)
    [reply] = slack.wait_for(
        lambda: slack.thread(channel, final.ts), timeout=10, message="the error in the thread"
    )
    assert "RuntimeError" in reply.text and f"job `{job_id}`" in reply.text
    seen = [m.text + str(m.blocks) for m in slack.messages(channel)] + [reply.text + str(reply.blocks)]
    seen += [e.text for e in slack.ephemerals()]
    for text in seen:
        assert "db login failed" not in text and "db.internal" not in text
        assert not [s for s in LEAKED if s in text]
    log = worker_log_once_it_says(env, "db login failed")
    assert (
        "RuntimeError: db login failed: postgresql://admin:[redacted]@db.internal/prod [redacted] token=[redacted]"
        in log
    )
    assert job_id in log
    assert not [s for s in LEAKED if s in log]


def test_tokens_passwords_and_keys_in_an_error_are_redacted_in_the_log(env, slack) -> None:
    channel = "C0LEAKKEYS"
    job_id = run(slack, "leaky-keys", channel)

    final = wait_status(slack, channel, job_id, "failed", timeout=30)
    [reply] = slack.wait_for(
        lambda: slack.thread(channel, final.ts), timeout=10, message="the error in the thread"
    )
    assert "ValueError" in reply.text and "upstream" not in reply.text
    log = worker_log_once_it_says(env, "upstream said 401")
    assert (
        'Bearer [redacted]" with {"user": "etl", "password": "[redacted]"} and key [redacted private key]'
        in log
    )
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "s3cr3t-Pa55", "MIIEowIBAAKCAQEAu1SU1"):
        assert secret not in log


def test_no_credential_of_any_shape_reached_a_log_of_this_modules_processes(env, slack) -> None:
    """Last: every line the bot, the worker and beat logged (while the tests above timed out,
    lost processes and leaked, and the two leaky reports once more), searched for every
    credential shape, not only for the configured strings."""
    for report in ("leaky-db", "leaky-keys"):
        wait_status(slack, "C0LEAKALL", run(slack, report, "C0LEAKALL"), "failed", timeout=30)
    wait_until(lambda: env.worker.log().count("leaky-keys raised") >= 1, 10, what="the errors logged")
    logs = {path.name: path.read_text(errors="replace") for path in env.logs}
    assert "[redacted]" in logs["hostile.log"]
    leaked = {name: secrets_in(text) for name, text in logs.items() if secrets_in(text)}
    assert not leaked, leaked
