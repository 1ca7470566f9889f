"""What a channel sees of a report's error: its kind, a short sentence and the job id, never the
exception's text, which may hold anything (a database URL, a key); a `UserError`'s message is
the one written for people, and is shown. Real Redis and the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import FakeSlack
from tasks.errors import UserError
from tasks.jobs.records import Job, new_job_id
from tasks.reports import Report
from tasks.worker.execution import run_job
from tests.support import BOT_TOKEN, worker_runtime

LEAK = (
    "db login failed: postgresql://admin:Hunter2@db.internal/prod AKIAIOSFODNN7EXAMPLE token=xoxp-1234-abcd"
)
SECRETS = ("Hunter2", "AKIAIOSFODNN7EXAMPLE", "xoxp-1234-abcd")


@pytest.fixture
def runtime(services) -> Iterator:
    slack = FakeSlack(bot_token=BOT_TOKEN).start()

    def leaky() -> str:
        raise RuntimeError(LEAK)

    def picky() -> str:
        raise UserError("There is no data for `emea` before 2024.")

    rt = worker_runtime(
        slack, Report.from_function(leaky, name="leaky"), Report.from_function(picky, name="picky")
    )
    yield rt, slack
    slack.stop()


def everything_seen(slack: FakeSlack, channel: str) -> str:
    messages = slack.messages(channel)
    seen = [m.text + str(m.blocks) for m in messages]
    seen += [r.text + str(r.blocks) for m in messages for r in slack.thread(channel, m.ts)]
    seen += [e.text for e in slack.ephemerals()]
    return "\n".join(seen)


@pytest.mark.parametrize("schedule", ["", "s-nightly"], ids=["command", "digest"])
def test_a_reports_exception_text_never_reaches_the_channel(runtime, schedule: str) -> None:
    rt, slack = runtime
    job = Job(
        id=new_job_id(), report="leaky", args={}, channel="C0LEAK", user="U0ALICE", schedule_id=schedule
    )

    assert run_job(job, rt) == "failed"

    seen = everything_seen(slack, "C0LEAK")
    for secret in SECRETS:
        assert secret not in seen
    assert "db login failed" not in seen and "db.internal" not in seen, (
        "the exception's text stays in the log"
    )
    assert "RuntimeError" in seen and f"job `{job.id}`" in seen and "worker's log" in seen


def test_a_user_errors_message_is_shown_as_written(runtime) -> None:
    rt, slack = runtime
    job = Job(id=new_job_id(), report="picky", args={}, channel="C0PICKY", user="U0ALICE")

    assert run_job(job, rt) == "failed"

    [status] = slack.messages("C0PICKY")
    [reply] = slack.thread("C0PICKY", status.ts)
    assert "There is no data for `emea` before 2024." in reply.text
