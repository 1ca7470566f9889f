"""Jobs no report will end are closed: the running index and beat's pass over it.

The in-memory store and the fake Slack: no services needed. The worker's side (a pool process
killed at the hard limit, lost twice) runs through real processes in
`tests/e2e/test_worker_hostile.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox import FakeSlack
from tasks.jobs.records import Job, JobRecord, JobRecords, JobState
from tasks.rendering.messages import status_message
from tasks.settings import Settings
from tasks.store import MemoryStore
from tasks.worker.lost_jobs import LOST_WORKER, close_job, close_overdue, closing_key, hard_limit_reason
from tasks.worker.runtime import Runtime
from tests.support import BOT_TOKEN

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def job(channel: str = "C0GONE", schedule_id: str = "") -> Job:
    return Job(
        id=uuid.uuid4().hex[:8], report="dawdle", args={}, channel=channel, user="U0ALICE",
        requested_at=NOW - 900, schedule_id=schedule_id,
    )  # fmt: skip


@pytest.fixture
def runtime() -> Iterator[tuple[Runtime, FakeSlack]]:
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, redis_url="memory://")
    rt = Runtime(settings, store=MemoryStore())  # this test's own, not the process's shared one
    yield rt, slack
    slack.stop()


def running(rt: Runtime, j: Job, deadline: float) -> JobRecord:
    """A started job's record, as a worker leaves it while the report runs."""
    ts = rt.poster.post_in_channel(j, status_message(j, "running"))
    record = JobRecord(job=j, state=JobState.RUNNING, started_at=NOW - 600, status_ts=ts, deadline=deadline)
    rt.records.save(record)
    return record


def test_a_job_is_in_the_running_index_from_its_start_to_its_end() -> None:
    records = JobRecords(MemoryStore())
    j = job()
    records.created(j)  # the bot's "queued" record: not started, not indexed
    assert records.overdue(NOW + 10**6, 10) == []
    record = JobRecord(job=j, state=JobState.RUNNING, started_at=NOW, deadline=NOW + 60)
    records.save(record)
    assert records.overdue(NOW + 59, 10) == [] and records.overdue(NOW + 60, 10) == [j.id]
    record.state = JobState.SUCCEEDED
    records.save(record)
    assert records.overdue(NOW + 10**6, 10) == []


def test_beat_closes_a_job_past_its_deadline_failed_and_says_so_once(runtime) -> None:
    rt, slack = runtime
    lost, alive = job(), job()
    running(rt, lost, deadline=NOW - 1)
    running(rt, alive, deadline=NOW + 60)

    assert close_overdue(rt, now=NOW) == 1
    status = next(m for m in slack.messages("C0GONE") if lost.id in str(m.blocks))
    assert "failed after 10.0 min" in str(status.blocks) and "Cancel" not in str(status.blocks)
    assert "Run again" in str(status.blocks)
    assert [r.text for r in slack.thread("C0GONE", status.ts)] == [f":warning: {LOST_WORKER}"]
    assert [e.text for e in slack.ephemerals(user="U0ALICE")] == [
        f":warning: Job `{lost.id}` (dawdle) failed. {LOST_WORKER}"
    ]
    record = rt.records.get(lost.id)
    assert record is not None and record.state == "failed" and record.error == LOST_WORKER
    other = rt.records.get(alive.id)
    assert other is not None and other.state == "running", "a job within its deadline is left alone"

    assert close_overdue(rt, now=NOW + 1) == 0, "closed once"
    assert len(slack.thread("C0GONE", status.ts)) == 1


def test_a_job_cancelled_or_finished_meanwhile_is_only_taken_out_of_the_index(runtime) -> None:
    rt, slack = runtime
    j = job()
    record = running(rt, j, deadline=NOW - 1)
    rt.records.cancel(record, by="U0BOB")

    assert close_overdue(rt, now=NOW) == 0
    assert rt.records.overdue(NOW, 10) == [] and slack.thread("C0GONE", record.status_ts) == []


def test_a_job_lost_before_its_status_message_gets_one_saying_it_failed(runtime) -> None:
    rt, slack = runtime
    command, digest = job("C0EARLY"), job("C0DIGEST", schedule_id="s-nightly")
    reason = hard_limit_reason(16, 1)

    assert close_job(rt, command, reason, duration=16.0) and close_job(rt, digest, reason, duration=16.0)

    [status] = slack.messages("C0EARLY")
    assert "failed after 16.0 s" in str(status.blocks)
    assert slack.thread("C0EARLY", status.ts)[0].text == f":warning: {reason}"
    [message] = slack.messages("C0DIGEST")
    assert "schedule `s-nightly`" in str(message.blocks) and reason in str(message.blocks)
    assert (
        reason == "The report was stopped at its time limit after 16 s: it did not stop when asked to at 1 s."
    )
    assert not close_job(rt, command, reason), "an ended job is not closed twice"


def test_a_channel_that_refuses_the_bot_does_not_keep_a_job_open_nor_hold_up_the_others(runtime) -> None:
    rt, slack = runtime
    refused, other = job("C0ARCHIVED"), job("C0OPEN")
    running(rt, refused, deadline=NOW - 2)
    running(rt, other, deadline=NOW - 1)
    slack.fail("chat.postMessage", error="is_archived")  # the first job's reason in its thread
    slack.fail("chat.update", error="is_archived")

    assert close_overdue(rt, now=NOW) == 2
    record = rt.records.get(refused.id)
    assert record is not None and record.state == "failed", "ended, though Slack could not show it"
    [status] = slack.messages("C0OPEN")
    assert "failed after" in str(status.blocks) and len(slack.thread("C0OPEN", status.ts)) == 1
    assert rt.records.overdue(NOW + 10**6, 10) == []


def test_a_job_another_beat_is_closing_is_left_to_it(runtime) -> None:
    """Two beats that both think they lead (a pass that outlived the leader lock) close a job
    once: each takes the job's closing claim first."""
    rt, slack = runtime
    lost = job()
    running(rt, lost, deadline=NOW - 1)
    assert rt.store.claim(closing_key(lost.id), "the other beat", 60)

    assert close_overdue(rt, now=NOW) == 0
    status = next(m for m in slack.messages("C0GONE") if lost.id in str(m.blocks))
    assert not slack.thread("C0GONE", status.ts) and not slack.ephemerals(), "nobody told twice"
