"""One person's flood, or a digest fan-out, does not hold up anyone else's command.

The session's real worker (`celery -A tasks worker`, concurrency 2) and HTTP bot, real RabbitMQ
and Redis, the fake Slack. Sixty one-second jobs take that worker half a minute; another
person's `ping`, sent right after them, must be done within five seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import BROKER_URL, base_env

FLOOD = 60
JOB_ID = re.compile(r"job `([0-9a-f]{8})`")


@pytest.fixture
def empty_queues(worker) -> Iterator[None]:
    """Nothing left queued before or after: the flood must not spill into other tests."""
    from kombu import Connection

    from tasks.jobs.queues import BULK_QUEUE, QUEUE

    def purge() -> None:
        with Connection(BROKER_URL, connect_timeout=3) as conn:
            for name in (QUEUE, BULK_QUEUE):
                try:
                    conn.default_channel.queue_purge(name)
                except Exception:  # not declared yet: nothing to purge
                    conn.close()
                    conn.connect()

    purge()
    yield
    purge()
    time.sleep(2.5)  # the jobs already running finish (two at a time, one second each)


def ping_takes(slack, channel: str) -> float:
    """Seconds from another person's `/run-report ping` to its result in the thread."""
    started = time.monotonic()
    response = slack.send_command("/run-report", "ping", channel=channel, user="U0OTHER")
    assert response.ok, response
    match = JOB_ID.search(str(response.body))
    assert match, response
    job_id = match.group(1)
    slack.wait_for(
        lambda: [
            m
            for m in slack.messages(channel)
            if job_id in str(m.blocks) and "succeeded" in str(m.blocks) and slack.thread(channel, m.ts)
        ],
        timeout=60,
        interval=0.05,
        message=f"ping {job_id} to finish",
    )
    return time.monotonic() - started


def finished(slack, channel: str) -> int:
    return sum(
        1 for m in slack.messages(channel) if "succeeded" in str(m.blocks) or "failed" in str(m.blocks)
    )


def test_a_ping_is_done_within_5_s_while_one_persons_60_jobs_are_queued(
    slack, worker, http_bot, empty_queues
):
    def flood(n: int) -> str:
        response = slack.send_command("/run-report", "sleepy seconds=1", channel="C0FLOOD", user="U0FLOOD")
        assert response.ok, response
        return str(response.body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        acks = list(pool.map(flood, range(FLOOD)))
    assert all("Queued" in ack for ack in acks), [a for a in acks if "Queued" not in a][:3]

    took = ping_takes(slack, "C0PING")
    assert took < 5.0, f"ping took {took:.1f} s behind the flood"
    assert finished(slack, "C0FLOOD") < FLOOD / 2, "the flood was still going when ping was done"


def test_a_ping_is_done_within_5_s_while_a_digest_fans_out_to_60_channels(
    slack, worker, http_bot, empty_queues
):
    """Schedules' runs are published by beat with `tasks.jobs.publishing.publish_job`, as here."""
    from tasks.jobs.publishing import publish_job
    from tasks.jobs.records import Job, new_job_id
    from tasks.settings import load_settings
    from tasks.worker.celery_config import make_app

    app = make_app(load_settings(base_env(slack.api_url), dotenv=None))
    for n in range(FLOOD):
        job = Job(
            id=new_job_id(),
            report="sleepy",
            args={"seconds": "1"},
            channel=f"C0DIGEST{n:02d}",
            user="U0FLOOD",
            schedule_id="s-f100d0",
        )
        publish_job(app, job, 2, timeout=5, confirm_timeout=5)

    took = ping_takes(slack, "C0PING")
    assert took < 5.0, f"ping took {took:.1f} s behind the digest"


@pytest.fixture
def capped_bot(slack_server, services, tmp_path) -> Iterator[None]:
    """A bot of its own with JOBS_PER_USER=2, taking the fake Slack's commands for one test."""
    from tests.support import start_bot

    previous = getattr(slack_server, "bot_url", None)
    proc, port = start_bot(slack_server, tmp_path, "capped-bot", JOBS_PER_USER="2")
    slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
    yield
    slack_server.bot_url = previous
    proc.stop()


def test_a_person_at_the_cap_is_refused_at_the_ack_until_their_jobs_end(
    slack, worker, capped_bot, empty_queues
):
    def run(text: str) -> str:
        response = slack.send_command("/run-report", text, channel="C0CAPPED", user="U0BUSY")
        assert response.ok and response.status == 200, response
        return str(response.body)

    # One succeeds after 1.5 s; the other is stopped at sleepy's 2 s time limit and fails.
    first, second = run("sleepy seconds=1.5"), run("sleepy seconds=10")
    assert "Queued" in first and "Queued" in second
    refused = run("echo")
    assert "You have 2 jobs queued or running" in refused and "Queued" not in refused
    # Both end, one succeeded and one failed, in the real worker: the person may run again.
    slack.wait_for(lambda: finished(slack, "C0CAPPED") >= 2, timeout=30, message="both jobs to end")
    assert any("failed" in str(m.blocks) for m in slack.messages("C0CAPPED"))
    assert "Queued" in slack.wait_for(
        lambda: (lambda a: a if "Queued" in a else None)(run("echo")), timeout=5
    )
