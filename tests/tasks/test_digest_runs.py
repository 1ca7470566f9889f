"""A schedule's run (a digest) is one message in its channel, the result with how it went,
against real Redis and the fake Slack: no status message, nothing to update, files in its
thread; posted once, whether it is redelivered or waits out Slack's rate limit."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from sandbox import FakeSlack
from tasks.jobs.records import Job, new_job_id
from tasks.reports import Report
from tasks.reports.results import File
from tasks.worker.execution import RateLimited, run_job
from tests.support import BOT_TOKEN, worker_runtime


@pytest.fixture
def runtime(services):
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    runs: list[str] = []

    def sales() -> str:
        runs.append("ran")
        return "*Sales* today: 42"

    def broken() -> str:
        raise ValueError("no such table: orders")

    rt = worker_runtime(
        slack,
        Report.from_function(sales, name="sales"),
        Report.from_function(
            lambda: ["Attached.", File("sales.csv", b"region,total\nemea,42\n")], name="export"
        ),
        Report.from_function(broken, name="broken"),
    )
    yield rt, slack, runs
    slack.stop()


def digest_job(report: str, channel: str) -> Job:
    return Job(
        id=new_job_id(), report=report, args={}, channel=channel, user="U0OWNER", schedule_id="s-morning"
    )


def test_a_digest_is_one_message_with_the_result_and_how_it_went(runtime) -> None:
    rt, slack, runs = runtime
    job = digest_job("sales", "C0DIGEST")

    assert run_job(job, rt) == "succeeded"

    [message] = slack.messages("C0DIGEST")
    blocks = str(message.blocks)
    assert "*Sales* today: 42" in str(message.blocks[0]), "the result comes first, in the channel"
    assert "schedule `s-morning`" in blocks and "succeeded in" in blocks and f"job `{job.id}`" in blocks
    assert "Run now" in blocks and "Cancel" not in blocks, "the schedule's menu, not a job's buttons"
    assert message.text.startswith("sales (schedule s-morning, succeeded in") and message.text.endswith("42")
    assert "<@" not in blocks, "each run does not notify the schedule's creator"
    assert slack.thread("C0DIGEST", message.ts) == [] and not message.edits
    assert not slack.requests("chat.update")
    record = rt.records.get(job.id)
    assert record is not None and record.state == "succeeded" and record.status_ts == message.ts

    assert run_job(job, rt) == "succeeded", "redelivered after it finished"
    assert len(slack.messages("C0DIGEST")) == 1 and runs == ["ran"]


def test_a_digest_refused_by_the_rate_limit_posts_its_kept_result_once_on_retry(runtime) -> None:
    rt, slack, runs = runtime
    slack.rate_limit_post_message(per_second=1.0, burst=1)
    WebClient(BOT_TOKEN, base_url=slack.api_url).chat_postMessage(
        channel="C0BUSY", text="someone spoke just now"
    )
    job = digest_job("sales", "C0BUSY")

    with pytest.raises(RateLimited):
        run_job(job, rt)
    assert len(slack.messages("C0BUSY")) == 1 and runs == ["ran"]

    slack.rate_limit_post_message(per_second=1000.0, burst=10)
    assert run_job(job, rt) == "succeeded"
    digests = [m for m in slack.messages("C0BUSY") if "s-morning" in str(m.blocks)]
    assert len(digests) == 1 and "42" in str(digests[0].blocks)
    assert runs == ["ran"], "the retry posts the result kept from the first attempt"


def test_a_digests_files_go_in_its_messages_thread(runtime) -> None:
    rt, slack, _ = runtime
    assert run_job(digest_job("export", "C0FILES"), rt) == "succeeded"

    [message] = slack.messages("C0FILES")
    assert "Attached." in str(message.blocks)
    [reply] = slack.thread("C0FILES", message.ts)
    assert [f.name for f in reply.files] == ["sales.csv"]


def test_a_failed_digest_says_what_went_wrong_in_its_one_message(runtime) -> None:
    rt, slack, _ = runtime
    job = digest_job("broken", "C0BROKEN")

    assert run_job(job, rt) == "failed"

    [message] = slack.messages("C0BROKEN")
    blocks = str(message.blocks)
    assert "The report failed with an unexpected error (`ValueError`)" in blocks
    assert "no such table" not in blocks, "the exception's text stays in the worker's log"
    assert f"job `{job.id}`" in blocks and "failed after" in blocks
    assert slack.thread("C0BROKEN", message.ts) == []
