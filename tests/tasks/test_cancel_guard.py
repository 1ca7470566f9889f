"""The worker's durable guard against running or reporting a cancelled job.

Celery keeps revokes in memory only, so a worker that restarts (or a revoke that never reached
it) may still be handed a cancelled job. `run_job` checks the job's record in the store: a job
cancelled while queued never posts anything; one cancelled while its report ran does not post
its result. Here the job runs in this process (`run_job`), against the fake Slack and the real
Redis (a key prefix of each test's own); records are written as the worker writes them (`save`).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tasks.jobs.records import Job, JobRecord, JobRecords, JobState, new_job_id
from tasks.settings import Settings
from tasks.store import RedisStore
from tasks.worker.execution import run_job
from tasks.worker.runtime import Runtime
from tests.support import BOT_TOKEN, REDIS_PREFIX, REDIS_URL, TEST_REPORTS, wait_until

CHANNEL = "C0GUARD"


@pytest.fixture
def prefix(services) -> str:
    """This test's own Redis keys, under the session's prefix."""
    return f"{REDIS_PREFIX}{uuid.uuid4().hex}:"


@pytest.fixture
def records(prefix: str) -> JobRecords:
    return JobRecords(RedisStore(REDIS_URL, prefix=prefix))


def make_runtime(slack, prefix: str) -> Runtime:
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        report_modules=tuple(TEST_REPORTS.split(",")),
        redis_url=REDIS_URL,
        redis_prefix=prefix,
    )
    return Runtime(settings)


def new_job(report: str, **args: str) -> Job:
    return Job(id=new_job_id(), report=report, args=args, channel=CHANNEL, user="U0ALICE")


def stored(records: JobRecords, job_id: str) -> JobRecord:
    """The record the test wrote for the job, as Redis has it now."""
    record = records.get(job_id)
    assert record is not None, f"no record of job {job_id}"
    return record


def test_a_job_cancelled_while_queued_never_runs_nor_posts(slack, prefix):
    runtime = make_runtime(slack, prefix)
    job = new_job("echo", text="should not appear")
    record = runtime.records.created(job)
    assert runtime.records.cancel(record, "U0BOB")

    assert run_job(job, runtime) == "cancelled"
    assert slack.messages(CHANNEL) == []
    assert stored(runtime.records, job.id).state == "cancelled"


def test_a_first_delivery_of_a_job_cancelled_while_queued_posts_nothing(slack, prefix):
    # A first delivery reads its record once its report has run (run_job's first_delivery):
    # the cancel is found then, before anything is posted.
    runtime = make_runtime(slack, prefix)
    job = new_job("echo", text="should not appear")
    assert runtime.records.cancel(runtime.records.created(job), "U0BOB")

    assert run_job(job, runtime, first_delivery=True) == "cancelled"
    assert slack.messages(CHANNEL) == []
    assert stored(runtime.records, job.id).state == "cancelled"


@pytest.mark.parametrize("first_delivery", [False, True])
def test_a_job_cancelled_while_running_posts_no_result_and_says_who_cancelled(slack, prefix, first_delivery):
    runtime = make_runtime(slack, prefix)
    job = new_job("slow", seconds="1")
    runtime.records.created(job)
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_job(job, runtime, first_delivery=first_delivery))
    )
    thread.start()
    status = wait_until(lambda: slack.messages(CHANNEL), 10, what="the status message")[0]
    assert "running" in str(status.blocks)

    assert runtime.records.cancel(stored(runtime.records, job.id), "U0BOB")
    thread.join(10)

    assert outcome == ["cancelled"]
    final = slack.messages(CHANNEL)
    assert len(final) == 1 and "cancelled by <@U0BOB>" in str(final[0].blocks)
    assert slack.thread(CHANNEL, status.ts) == [], "the result is not posted"
    record = runtime.records.get(job.id)
    assert record is not None and record.state == "cancelled" and record.cancelled_by == "U0BOB"


@pytest.mark.parametrize("first_delivery", [False, True])
def test_a_quick_report_cancelled_while_it_ran_posts_no_result_and_says_who_cancelled(
    slack, prefix, first_delivery
):
    runtime = make_runtime(slack, prefix)
    job = new_job("slow", seconds="0.3")  # done within STATUS_GRACE: no status message while it runs
    runtime.records.created(job)
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_job(job, runtime, first_delivery=first_delivery))
    )
    thread.start()
    time.sleep(0.1)
    assert slack.messages(CHANNEL) == []
    assert runtime.records.cancel(stored(runtime.records, job.id), "U0BOB")
    thread.join(10)

    assert outcome == ["cancelled"]
    (status,) = slack.messages(CHANNEL)
    assert "cancelled by <@U0BOB>" in str(status.blocks) and "Cancel" not in str(status.blocks)
    assert slack.thread(CHANNEL, status.ts) == [], "the result is not posted"
    record = runtime.records.get(job.id)
    assert record is not None and record.state == "cancelled" and record.status_ts == status.ts


def test_the_first_cancel_wins_and_a_worker_save_cannot_undo_it(records: JobRecords) -> None:
    job = new_job("echo")
    record = records.created(job)
    # The worker read the record and saved it running before the cancel ...
    worker_copy = records.get(job.id)
    assert worker_copy is not None
    worker_copy.state, worker_copy.started_at = JobState.RUNNING, 1.0
    records.save(worker_copy)
    assert records.cancel(stored(records, job.id), "U0BOB")
    assert not records.cancel(stored(records, job.id), "U0CAROL")
    # ... and saves its copy, finished, after it: the cancel still stands, by the first to ask.
    worker_copy.state, worker_copy.finished_at = JobState.SUCCEEDED, 2.0
    records.save(worker_copy)
    again = records.get(job.id)
    assert again is not None and again.state == "cancelled" and again.cancelled_by == "U0BOB"
    assert record.job == again.job


def test_the_queued_record_written_after_the_ack_does_not_overwrite_a_quicker_worker(
    records: JobRecords,
) -> None:
    job = new_job("ping")
    records.save(JobRecord(job=job, state=JobState.SUCCEEDED, finished_at=1.0))  # the worker was first
    records.created(job)  # the bot's after-ack step
    assert stored(records, job.id).state == "succeeded"
    assert [r.job.id for r in records.history(CHANNEL)] == [job.id]
