"""Slack's rate limits: a job waits them out without holding a worker, and posts once.

The fake Slack limits chat.postMessage to one message a second per channel (burst 1), as Slack
does, answering 429 with Retry-After. A job's status message goes out, its result hits the limit
a few milliseconds later, and the job is retried after Retry-After from where it stopped. A
quick report's status message says it succeeded before its result is in the thread, so these
tests wait for the result itself. A pool
process refused that way paces its next jobs itself for a while (`tasks.slack.pacing`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tasks.slack.pacing import MEMORY

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")


def job_id_in(text: str) -> str:
    """The id of the job the answer names; the test fails here, showing the answer, if it names none."""
    match = JOB_ID.search(text)
    assert match, text
    return match.group(1)


def test_a_rate_limited_result_is_posted_once_later_and_the_report_runs_once(
    slack, worker, http_bot, tmp_path: Path
):
    runs = tmp_path / "runs.txt"
    time.sleep(MEMORY)  # the worker forgets earlier tests' refusals, so this job asks Slack first
    slack.rate_limit_post_message(per_second=1.0, burst=1)
    response = slack.send_command("/run-report", f"tally path={runs}", channel="C0LIMIT")
    job_id = job_id_in(str(response.body))

    final = slack.wait_for(
        lambda: next(
            (
                m
                for m in slack.messages("C0LIMIT")
                if job_id in str(m.blocks) and "succeeded" in str(m.blocks)
            ),
            None,
        ),
        timeout=20,
    )
    replies = slack.wait_for(lambda: slack.thread("C0LIMIT", final.ts), timeout=20)
    assert [r.text for r in replies] == ["counted"]
    assert runs.read_text() == "ran\n", "the retry posted the kept result; the report ran once"
    refused = [r for r in slack.requests("chat.postMessage") if r.status == 429]
    assert refused, "Slack's limit was hit, so the job had to wait it out"
    assert len([m for m in slack.messages("C0LIMIT") if job_id in str(m.blocks)]) == 1


def test_many_channels_under_the_limit_lose_and_duplicate_nothing(slack, worker, http_bot):
    slack.rate_limit_post_message(per_second=1.0, burst=1)
    channels = [f"C0FAN{i:02d}" for i in range(30)]
    ids = {}
    started = time.monotonic()
    for channel in channels:
        response = slack.send_command("/run-report", "echo text=digest", channel=channel)
        ids[channel] = job_id_in(str(response.body))

    def all_done() -> bool:
        return all(
            any(
                ids[c] in str(m.blocks) and "succeeded" in str(m.blocks) and slack.thread(c, m.ts)
                for m in slack.messages(c)
            )
            for c in channels
        )

    slack.wait_for(all_done, timeout=40)
    took = time.monotonic() - started
    for channel in channels:
        statuses = [m for m in slack.messages(channel) if ids[channel] in str(m.blocks)]
        assert len(statuses) == 1
        assert [r.text for r in slack.thread(channel, statuses[0].ts)] == ["digest"]
    refused = len([r for r in slack.requests("chat.postMessage") if r.status == 429])
    # A pool process runs one job at a time and, once refused, paces its jobs for MEMORY
    # seconds: each of the worker's two is refused at most once per MEMORY seconds. Without
    # pacing, every channel's result was refused once.
    most = 2 * (took / MEMORY + 1)
    assert refused <= most, f"{refused} of {len(channels)} results refused in {took:.1f} s"


def test_a_job_retried_after_its_result_was_posted_does_not_run_the_report_again(
    slack, worker, http_bot, tmp_path: Path
):
    runs = tmp_path / "runs.txt"
    slack.fail("chat.update", error="ratelimited", status=429, retry_after=1, times=1)
    # Longer than STATUS_GRACE, so its status message is posted running and updated at the end.
    response = slack.send_command("/run-report", f"tally path={runs} seconds=1", channel="C0LATE")
    job_id = job_id_in(str(response.body))

    final = slack.wait_for(
        lambda: next(
            (m for m in slack.messages("C0LATE") if job_id in str(m.blocks) and "succeeded" in str(m.blocks)),
            None,
        ),
        timeout=20,
    )
    assert [r.text for r in slack.thread("C0LATE", final.ts)] == ["counted"]
    assert runs.read_text() == "ran\n", "the retry only updated the status message"


def test_a_message_slack_refuses_for_good_ends_the_job_visibly(slack, worker, http_bot):
    slack.fail("chat.update", error="msg_too_long", times=1)
    response = slack.send_command("/run-report", "slow seconds=1", channel="C0REFUSE", user="U0CAROL")
    job_id = job_id_in(str(response.body))

    status = slack.wait_for(
        lambda: next(
            (m for m in slack.messages("C0REFUSE") if job_id in str(m.blocks) and "failed" in str(m.blocks)),
            None,
        ),
        timeout=20,
    )
    assert "Slack refused a message of this job (msg_too_long)" in str(status.blocks)
    told = slack.wait_for(
        lambda: [e for e in slack.ephemerals(user="U0CAROL") if "could not be finished" in e.text]
    )
    assert job_id in told[0].text
