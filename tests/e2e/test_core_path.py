"""The core path, as a person in a channel sees it, over HTTP and over Socket Mode.

`/run-report …` → ephemeral ack with the job id → status message in the channel → result in
its thread → status message updated in place. Real bot and worker processes, real RabbitMQ and
Redis, the fake Slack at the HTTP boundary.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata

import pytest

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
CHANNEL = "C0CORE"


def ack_text(response) -> str:
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def run_and_wait(slack, text: str, mode: str, channel: str = CHANNEL):
    """Send a command; return (ack text, job id, final status message, thread replies)."""
    response = slack.send_command("/run-report", text, channel=channel, mode=mode)
    ack = ack_text(response)
    match = JOB_ID.search(ack)
    assert match, f"no job id in the ack: {ack!r}"
    job_id = match.group(1)

    def status_message():
        found = [m for m in slack.messages(channel) if job_id in m.text or job_id in str(m.blocks)]
        return found[0] if found else None

    def finished():
        message = status_message()
        if message and any(w in str(message.blocks) for w in ("succeeded", "failed")):
            return message
        return None

    final = slack.wait_for(finished, timeout=20, message=f"job {job_id} to finish")
    replies = slack.wait_for(lambda: slack.thread(channel, final.ts), timeout=10)
    return ack, job_id, final, replies


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_ping_is_acked_at_once_then_answered_in_a_thread_under_its_status(
    slack, worker, http_bot, socket_bot, mode
):
    started = time.monotonic()
    response = slack.send_command("/run-report", "ping", channel=CHANNEL, user="U0ALICE", mode=mode)
    assert response.ok and time.monotonic() - started < 3.0
    ack = ack_text(response)
    assert "Queued *ping*" in ack
    match = JOB_ID.search(ack)
    assert match, ack
    job_id = match.group(1)

    # The ack is private to the person who typed the command.
    assert any(job_id in e.text for e in slack.ephemerals(user="U0ALICE", channel=CHANNEL))

    # The status message appears in the channel: who asked, what, running or done.
    status = slack.wait_for(
        lambda: [m for m in slack.messages(CHANNEL) if job_id in str(m.blocks)], timeout=15
    )[0]
    assert "<@U0ALICE>" in str(status.blocks) and "*ping*" in str(status.blocks)
    assert status.thread_ts in (None, "", status.ts)

    replies = slack.wait_for(lambda: slack.thread(CHANNEL, status.ts), timeout=15)
    assert "pong" in replies[0].text
    assert re.search(r"waited [\d.]+ (ms|s) in the queue\.", replies[0].text)
    assert replies[0].blocks, "the result is Block Kit with a text fallback"

    final = slack.wait_for(
        lambda: next(
            (m for m in slack.messages(CHANNEL) if m.ts == status.ts and "succeeded" in str(m.blocks)), None
        ),
        timeout=15,
    )
    # Never re-posted: one status message for the job. A report as quick as ping is done before
    # the status message is due (STATUS_GRACE), so it is posted finished, not "running" then
    # edited (tests/tasks/test_status_grace.py has both cases).
    assert len([m for m in slack.messages(CHANNEL) if job_id in str(m.blocks)]) == 1
    assert "Run again" in str(final.blocks) and "Cancel" not in str(final.blocks)
    ran = re.search(r"succeeded in ([\d.]+ (ms|s))", str(final.blocks))
    assert ran
    assert f"job `{job_id}`" in str(final.blocks)
    # One duration per job, measured once: `status` says the same as the status message.
    told = ack_text(slack.send_command("/run-report", f"status {job_id}", channel=CHANNEL, mode=mode))
    assert f"ran {ran.group(1)}" in told, told


def test_quoted_arguments_reach_the_report_as_typed(slack, worker, http_bot):
    ack, _, final, replies = run_and_wait(slack, 'echo text="two words" times=2', "http")
    assert 'text="two words"' in ack and "times=2" in ack
    assert replies[0].text == "two words two words"


def test_arguments_are_converted_to_their_types_before_the_report_runs(slack, worker, http_bot):
    _, _, _, replies = run_and_wait(slack, "typed day=2026-03-01 ratio=2.5 loud=yes kind=line", "http")
    assert replies[0].text == "day=2026-03-01 ratio=2.5 loud=True kind=line"


def test_a_report_that_raises_gets_a_short_error_in_the_thread_and_a_failed_status(slack, worker, http_bot):
    _, job_id, final, replies = run_and_wait(slack, "boom", "http")
    error = replies[0].text
    assert "The report failed" in error and "RuntimeError" in error and f"job `{job_id}`" in error
    assert "the warehouse is on fire" not in error, "an exception's text goes to the log, not to Slack"
    assert "Traceback" not in error and 'File "' not in error
    assert re.search(r"failed after [\d.]+ (ms|s)", str(final.blocks))
    # The trace went to the worker's log, with the job id.
    assert (
        "Traceback" in worker.log() and job_id in worker.log() and "the warehouse is on fire" in worker.log()
    )


def test_a_report_over_its_time_limit_is_stopped_and_says_so(slack, worker, http_bot):
    _, _, final, replies = run_and_wait(slack, "sleepy seconds=30", "http")
    assert "timed out after 2 seconds" in replies[0].text
    assert "failed" in str(final.blocks)


def live_broadcasts(message) -> list[str]:
    """Broadcast mentions Slack would act on in a stored message (text and blocks), even once
    invisible characters are dropped."""
    flat = json.dumps([message.text, message.blocks], ensure_ascii=False)
    flat = "".join(c for c in flat if unicodedata.category(c) != "Cf")
    return re.findall(r"<!(?!date\^)[^<>]*>", flat)


def test_user_text_in_arguments_cannot_ping_the_channel_or_spoof_a_link(slack, worker, http_bot):
    """In the bot's own messages (the ack, the status message) what a user typed is shown as
    typed; in the thread, the report's output (echo returns it as its own mrkdwn) can link, but
    it cannot broadcast."""
    from sandbox.state import mentions

    ack, _, final, replies = run_and_wait(slack, 'echo text="<!channel> <http://evil|bank>"', "http")
    for text in (ack, str(final.blocks)):
        assert "<!channel>" not in text and "<http://evil|bank>" not in text
        assert "&lt;!channel&gt;" in text
    assert not [m for m in mentions(ack) if m.startswith(("<!", "<http"))]
    assert [live_broadcasts(m) for m in (final, *replies)] == [[]] * (1 + len(replies))
    assert "&lt;!channel&gt;" in replies[0].text and "&lt;!channel&gt;" in str(replies[0].blocks)


@pytest.mark.parametrize(
    "typed",
    ["<!here>", "<!everyone>", "<!subteam^S0ABC123|@oncall>", "a\u200b<\u200b!channel>", "<\u2060!here>"],
    ids=["here", "everyone", "subteam", "zero-width", "word-joiner"],
)
def test_a_report_returning_what_a_user_typed_cannot_broadcast_in_the_thread(slack, worker, http_bot, typed):
    _, _, final, replies = run_and_wait(slack, f'echo text="{typed} hi"', "http")
    assert "succeeded" in str(final.blocks)
    assert "hi" in replies[0].text
    assert [live_broadcasts(m) for m in (final, *replies)] == [[]] * (1 + len(replies))


def test_queue_report_shows_workers_online_and_queue_depth(slack, worker, http_bot):
    _, _, _, replies = run_and_wait(slack, "queue", "http")
    text = replies[0].text
    assert "*Workers online*: " in text and "*Workers online*: 0" not in text
    assert "Queue* `reports`" in text


def test_the_reports_are_loaded_once_by_the_worker_not_again_in_each_pool_process(slack, worker, http_bot):
    """Pool processes inherit what the worker loaded before forking, so a replaced pool process
    (worker_max_memory_per_child) does not import every report module and SQLAlchemy again."""
    slack.send_command("/run-report", "whereami", channel="C0WHERE")
    status = slack.wait_for(
        lambda: next((m for m in slack.messages("C0WHERE") if "succeeded" in str(m.blocks)), None), timeout=20
    )
    (reply,) = slack.wait_for(lambda: slack.thread("C0WHERE", status.ts), timeout=10)
    loaded, ran = (int(n) for n in re.findall(r"\d+", reply.text))
    assert loaded == worker.pid, "the worker's main process loaded the reports"
    assert ran != worker.pid, "a pool process ran the job"
