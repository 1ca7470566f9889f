"""The worker's durable guard against running or reporting a cancelled job.

Celery keeps revokes in memory only, so a worker that restarts (or a revoke that never reached
it) may still be handed a cancelled job. `run_job` checks the job's record in the store: a job
cancelled while queued never posts anything; one cancelled while its report ran does not post
its result. Here the job runs in this process (`run_job`), against the fake Slack and the
in-memory store, which has the same semantics as Redis.
"""

from __future__ import annotations

import threading

from tasks.execution import run_job
from tasks.jobs import Job, JobRecords, new_job_id
from tasks.runtime import Runtime
from tasks.settings import Settings
from tasks.store import MemoryStore
from tests.conftest import BOT_TOKEN, TEST_REPORTS, wait_until

CHANNEL = "C0GUARD"


def make_runtime(slack) -> Runtime:  # type: ignore[no-untyped-def]
    settings = Settings(
        slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, report_modules=tuple(TEST_REPORTS.split(","))
    )
    runtime = Runtime(settings)
    runtime.__dict__["store"] = MemoryStore()  # this test's own store, not the process-wide one
    return runtime


def new_job(report: str, **args: str) -> Job:
    return Job(id=new_job_id(), report=report, args=args, channel=CHANNEL, user="U0ALICE")


def test_a_job_cancelled_while_queued_never_runs_nor_posts(slack):  # type: ignore[no-untyped-def]
    runtime = make_runtime(slack)
    job = new_job("echo", text="should not appear")
    record = runtime.records.created(job)
    assert runtime.records.cancel(record, "U0BOB")

    assert run_job(job, runtime) == "cancelled"
    assert slack.messages(CHANNEL) == []
    assert runtime.records.get(job.id).state == "cancelled"  # type: ignore[union-attr]


def test_a_job_cancelled_while_running_posts_no_result_and_says_who_cancelled(slack):  # type: ignore[no-untyped-def]
    runtime = make_runtime(slack)
    job = new_job("slow", seconds="1")
    runtime.records.created(job)
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(run_job(job, runtime)))
    thread.start()
    status = wait_until(lambda: slack.messages(CHANNEL), 10, what="the status message")[0]
    assert "running" in str(status.blocks)

    assert runtime.records.cancel(runtime.records.get(job.id), "U0BOB")  # type: ignore[arg-type]
    thread.join(10)

    assert outcome == ["cancelled"]
    final = slack.messages(CHANNEL)
    assert len(final) == 1 and "cancelled by <@U0BOB>" in str(final[0].blocks)
    assert slack.thread(CHANNEL, status.ts) == [], "the result is not posted"
    record = runtime.records.get(job.id)
    assert record is not None and record.state == "cancelled" and record.cancelled_by == "U0BOB"


def test_the_first_cancel_wins_and_a_worker_update_cannot_undo_it() -> None:
    records = JobRecords(MemoryStore())
    job = new_job("echo")
    record = records.created(job)
    records.update(job, state="running")
    assert records.cancel(records.get(job.id), "U0BOB")  # type: ignore[arg-type]
    assert not records.cancel(records.get(job.id), "U0CAROL")  # type: ignore[arg-type]
    records.update(job, state="succeeded", finished_at=1.0)
    again = records.get(job.id)
    assert again is not None and again.state == "cancelled" and again.cancelled_by == "U0BOB"
    assert record.job == again.job


def test_the_queued_record_written_after_the_ack_does_not_overwrite_a_quicker_worker() -> None:
    records = JobRecords(MemoryStore())
    job = new_job("ping")
    records.update(job, state="succeeded", finished_at=1.0)  # the worker was first
    records.created(job)  # the bot's after-ack step
    assert records.get(job.id).state == "succeeded"  # type: ignore[union-attr]
    assert [r.job.id for r in records.history(CHANNEL)] == [job.id]
