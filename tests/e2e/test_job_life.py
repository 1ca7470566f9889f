"""A job's whole life from Slack: status, history, cancel, and the Cancel / Run again buttons.

What a person in the channel sees, with the real bot and worker processes, RabbitMQ and Redis,
and the fake Slack at the HTTP boundary. Button clicks are signed interactivity requests (HTTP)
or `interactive` envelopes (Socket Mode), as Slack sends them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Process, start_bot, wait_until

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
CHANNEL = "C0LIFE"
ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"


def ack_text(response) -> str:
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def command(slack, text: str, user: str = ALICE, mode: str = "http", channel: str = CHANNEL) -> str:
    return ack_text(slack.send_command("/run-report", text, channel=channel, user=user, mode=mode))


def queue(slack, text: str, user: str = ALICE, mode: str = "http", channel: str = CHANNEL) -> str:
    """Run a report; return its job id from the ack."""
    ack = command(slack, text, user, mode, channel)
    match = JOB_ID.search(ack)
    assert match, f"no job id in the ack: {ack!r}"
    return match.group(1)


def status_of(slack, job_id: str, channel: str = CHANNEL):
    """The job's status message in the channel, or None."""
    found = [m for m in slack.messages(channel) if f"job `{job_id}`" in str(m.blocks)]
    assert len(found) <= 1, f"job {job_id} has {len(found)} status messages"
    return found[0] if found else None


def wait_status(slack, job_id: str, word: str, channel: str = CHANNEL, timeout: float = 20):
    def seen():
        message = status_of(slack, job_id, channel)
        return message if message and word in section_text(message) else None

    return slack.wait_for(seen, timeout=timeout, message=f"job {job_id}'s status message to say {word!r}")


def wait_recorded(slack, job_id: str, state: str, channel: str = CHANNEL) -> str:
    """`status <job_id>` once it says `state`: the worker saves a finished job's record just after
    its last message, a moment after its status message says how it went."""

    def said() -> str:
        answer = command(slack, f"status {job_id}", channel=channel)
        return answer if f"*{state}*" in answer else ""  # empty: not yet, ask again

    return wait_until(said, 10, interval=0.2, what=f"job {job_id}'s record to say {state}")


def section_text(message) -> str:
    return " ".join(
        str((b.get("text") or {}).get("text", "")) for b in message.blocks or [] if b["type"] == "section"
    )


def buttons(message) -> dict[str, dict[str, Any]]:
    """The status message's buttons, by action_id."""
    return {
        e["action_id"]: e
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("type") == "button"
    }


def click(slack, message, action_id: str, user: str, mode: str = "http"):
    """Click a button of a channel message, as Slack delivers it (block_actions)."""
    button = buttons(message).get(action_id)
    assert button, f"no {action_id} button on {message.blocks}"
    block_id = next(b.get("block_id") for b in message.blocks if b["type"] == "actions")
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": message.channel},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": button["value"],
                "text": button["text"],
                "action_ts": str(time.time()),
            }
        ],
    }
    response = slack.send_interaction(payload, mode=mode)
    assert response.ok and response.elapsed < 3.0, response
    return response


def private_answer(slack, user: str, containing: str, timeout: float = 10) -> str:
    """The text of an ephemeral `user` got (ack, response_url or chat.postEphemeral)."""
    found = slack.wait_for(
        lambda: [e for e in slack.ephemerals(user=user, channel=CHANNEL) if containing in e.text],
        timeout=timeout,
        message=f"an ephemeral to {user} containing {containing!r}",
    )
    return str(found[-1].text)


def received(worker: Process, job_id: str) -> int:
    """How many times the worker took this job from the queue (its log says so each time)."""
    return len(re.findall(rf"reportbot\.run_report\[{job_id}\] received", worker.log()))


@pytest.fixture
def slow_jobs(slack, worker, http_bot) -> Iterator[list[str]]:
    """Long jobs a test starts; whatever is still running at the end is cancelled, so the shared
    worker's two slots are free for the next test."""
    started: list[str] = []
    yield started
    for job_id in started:
        slack.send_command("/run-report", f"cancel {job_id}", channel=CHANNEL, user=ALICE)


def fill_worker(slack, slow_jobs: list[str], mode: str = "http") -> tuple[str, str]:
    """Occupy both of the shared worker's slots with `slow` jobs; return their ids once running."""
    first, second = queue(slack, "slow seconds=20", mode=mode), queue(slack, "slow seconds=20", mode=mode)
    slow_jobs += [first, second]
    wait_status(slack, first, "running")
    wait_status(slack, second, "running")
    return first, second


# ---------------------------------------------------------------------------------- status


def test_status_of_a_finished_job_says_who_ran_it_when_and_links_its_thread(slack, worker, http_bot):
    job_id = queue(slack, "echo text=hi")
    final = wait_status(slack, job_id, "succeeded")
    wait_recorded(slack, job_id, "succeeded")
    answer = command(slack, f"status {job_id}", user=BOB)
    assert f"`{job_id}`" in answer and "*echo*" in answer and "*succeeded*" in answer
    assert f"by <@{ALICE}>" in answer
    assert re.search(r"<!date\^\d+\^", answer), "when it was asked for, in the reader's time zone"
    # The workspace's own Slack (here the fake), not a hard-coded slack.com.
    assert f"<{slack.base_url}archives/{CHANNEL}/p{final.ts.replace('.', '')}|thread>" in answer


def test_status_of_a_queued_and_a_running_job(slack, worker, http_bot, slow_jobs):
    running, _ = fill_worker(slack, slow_jobs)
    queued = queue(slack, "echo text=later")
    slow_jobs.append(queued)

    answer = command(slack, f"status {running}")
    assert "*running*" in answer and f"by <@{ALICE}>" in answer and "|thread>" in answer
    answer = command(slack, f"status {queued}")
    assert "*queued*" in answer and f"by <@{ALICE}>" in answer and "|thread>" not in answer


def test_status_of_a_job_is_not_shown_in_another_channel_to_someone_else(slack, worker, http_bot):
    job_id = queue(slack, "echo text=private")
    wait_status(slack, job_id, "succeeded")
    response = slack.send_command("/run-report", f"status {job_id}", channel="C0ELSEWHERE", user=BOB)
    answer = response.body.get("text", "") if isinstance(response.body, dict) else str(response.body)
    assert f"no job `{job_id}` in this channel" in answer and "private" not in answer
    # The person who ran it may ask from anywhere.
    response = slack.send_command("/run-report", f"status {job_id}", channel="C0ELSEWHERE", user=ALICE)
    answer = response.body.get("text", "") if isinstance(response.body, dict) else str(response.body)
    assert "*succeeded*" in answer


def test_status_of_an_unknown_job_says_so_and_points_to_history(slack, http_bot):
    answer = command(slack, "status deadbeef")
    assert "no job `deadbeef`" in answer and "/run-report history" in answer


# --------------------------------------------------------------------------------- history


def test_history_lists_the_channels_jobs_newest_first(slack, worker, http_bot):
    first = queue(slack, "ping", channel="C0HIST")
    wait_status(slack, first, "succeeded", channel="C0HIST")
    wait_recorded(slack, first, "succeeded", channel="C0HIST")
    second = queue(slack, "boom", user=BOB, channel="C0HIST")
    wait_status(slack, second, "failed", channel="C0HIST")
    wait_recorded(slack, second, "failed", channel="C0HIST")
    elsewhere = queue(slack, "ping", channel="C0OTHER")

    answer = command(slack, "history", channel="C0HIST")
    assert answer.index(second) < answer.index(first), "newest first"
    assert elsewhere not in answer, "only this channel's jobs"
    lines = {line for line in answer.splitlines() if first in line or second in line}
    assert any("*ping*" in line and "*succeeded*" in line and f"<@{ALICE}>" in line for line in lines)
    assert any("*boom*" in line and "*failed*" in line and f"<@{BOB}>" in line for line in lines)


def test_history_survives_a_restart_of_the_bot(slack, worker, services, tmp_path):
    saved_url = slack.bot_url
    bot, port = start_bot(slack, tmp_path, "restarted-bot")
    try:
        slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
        job_id = queue(slack, "ping", channel="C0RESTART")
        wait_status(slack, job_id, "succeeded", channel="C0RESTART")
        wait_recorded(slack, job_id, "succeeded", channel="C0RESTART")
        # The bot lists the job just after its ack; see it there before the restart.
        wait_until(lambda: job_id in command(slack, "history", channel="C0RESTART"), 10, what="history")
        bot.stop()
        bot, port = start_bot(slack, tmp_path, "restarted-bot-2")
        slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
        answer = command(slack, "history", channel="C0RESTART")
        assert job_id in answer and "*succeeded*" in answer
    finally:
        slack.bot_url = saved_url
        bot.stop()


def test_a_bot_stopped_just_after_an_ack_still_lists_the_job_in_history(slack, services, tmp_path):
    """The record is written after the ack; a SIGTERM (how containers are stopped) right then,
    while Redis is slow to take writes, still leaves the job in the channel's history."""
    import redis

    from tasks.store import RedisStore
    from tests.support import REDIS_PREFIX, REDIS_URL

    saved_url = slack.bot_url
    bot, port = start_bot(slack, tmp_path, "stopped-bot")
    try:
        slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
        redis.Redis.from_url(REDIS_URL).execute_command("CLIENT", "PAUSE", "1500", "WRITE")
        job_id = queue(slack, "ping", channel="C0STOPPED")
        bot.stop()
        assert bot.popen.returncode == 0, bot.log()
    finally:
        slack.bot_url = saved_url
        bot.stop()
    listed = RedisStore(REDIS_URL, prefix=REDIS_PREFIX).items("channel:C0STOPPED:jobs", 10)
    assert job_id in listed, bot.log()


# ---------------------------------------------------------------------------------- cancel


def test_cancelling_a_running_job_stops_it_and_says_who_cancelled_it(slack, worker, http_bot, slow_jobs):
    job_id = queue(slack, "slow seconds=20")
    slow_jobs.append(job_id)
    running = wait_status(slack, job_id, "running")
    assert "reportbot_cancel" in buttons(running), "a running job offers a Cancel button"

    answer = command(slack, f"cancel {job_id}")
    assert f"Cancelled job `{job_id}`" in answer and "will not be posted" in answer

    final = wait_status(slack, job_id, f"cancelled by <@{ALICE}>")
    assert final.ts == running.ts, "the status message is updated in place"
    assert "reportbot_rerun" in buttons(final) and "reportbot_cancel" not in buttons(final)
    assert "cancelled" in command(slack, f"status {job_id}") and f"cancelled by <@{ALICE}>" in command(
        slack, f"status {job_id}"
    )


def test_a_cancelled_running_job_is_not_run_again(slack, worker, http_bot, slow_jobs):
    job_id = queue(slack, "slow seconds=4")
    slow_jobs.append(job_id)
    status = wait_status(slack, job_id, "running")
    command(slack, f"cancel {job_id}")
    wait_status(slack, job_id, "cancelled by")
    # Long enough for a requeued message to be taken again and for the report to have finished.
    time.sleep(5)
    assert received(worker, job_id) == 1, "the terminated job's message was not redelivered"
    assert slack.thread(CHANNEL, status.ts) == [], "no result in the thread"
    assert "cancelled by" in section_text(status_of(slack, job_id))
    assert "*cancelled*" in command(slack, f"status {job_id}")


def test_cancelling_a_queued_job_means_it_never_runs(slack, worker, http_bot, slow_jobs):
    fill_worker(slack, slow_jobs)
    queued = queue(slack, "echo text=never")
    assert "*queued*" in command(slack, f"status {queued}")

    answer = command(slack, f"cancel {queued}")
    assert f"Cancelled job `{queued}`" in answer and "before it started" in answer
    for job_id in slow_jobs[:2]:  # free the worker: the queued job's turn comes, and passes
        command(slack, f"cancel {job_id}")
    check = queue(slack, "echo text=after")
    wait_status(slack, check, "succeeded")

    assert status_of(slack, queued) is None, "a cancelled queued job posts nothing"
    assert "*cancelled*" in command(slack, f"status {queued}")


def test_only_the_requester_or_an_admin_may_cancel(slack, worker, services, slow_jobs, tmp_path):
    saved_url = slack.bot_url
    bot, port = start_bot(slack, tmp_path, "admin-bot", ADMIN_USERS=ADMIN)
    try:
        slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
        job_id = queue(slack, "slow seconds=20")
        slow_jobs.append(job_id)
        wait_status(slack, job_id, "running")

        refusal = command(slack, f"cancel {job_id}", user=BOB)
        assert f"Only <@{ALICE}>" in refusal and "admin" in refusal
        assert "*running*" in command(slack, f"status {job_id}"), "a refused cancel changes nothing"

        assert f"Cancelled job `{job_id}`" in command(slack, f"cancel {job_id}", user=ADMIN)
        wait_status(slack, job_id, f"cancelled by <@{ADMIN}>")
    finally:
        slack.bot_url = saved_url
        bot.stop()


def test_cancel_from_another_channel_reveals_nothing_of_the_job(slack, worker, http_bot):
    job_id = queue(slack, "echo text=private")
    wait_status(slack, job_id, "succeeded")
    answer = command(slack, f"cancel {job_id}", user=BOB, channel="C0ELSEWHERE")
    assert answer == command(slack, f"status {job_id}", user=BOB, channel="C0ELSEWHERE")
    assert f"no job `{job_id}` in this channel" in answer and "succeeded" not in answer


def test_cancelling_an_unknown_or_finished_job_says_why_not(slack, worker, http_bot):
    assert "no job `abcdef12`" in command(slack, "cancel abcdef12")
    job_id = queue(slack, "ping")
    wait_status(slack, job_id, "succeeded")
    answer = command(slack, f"cancel {job_id}")
    assert "already succeeded" in answer and "nothing to stop" in answer
    assert "is not a job id" in command(slack, "cancel <!channel>")


# --------------------------------------------------------------------------------- buttons


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_the_cancel_button_stops_a_running_job(slack, worker, http_bot, socket_bot, slow_jobs, mode):
    job_id = queue(slack, "slow seconds=20", mode=mode)
    slow_jobs.append(job_id)
    running = wait_status(slack, job_id, "running")

    click(slack, running, "reportbot_cancel", ALICE, mode=mode)

    assert f"Cancelled job `{job_id}`" in private_answer(slack, ALICE, "Cancelled job")
    final = wait_status(slack, job_id, f"cancelled by <@{ALICE}>")
    assert final.ts == running.ts
    assert slack.thread(CHANNEL, running.ts) == []


def test_the_cancel_button_refuses_someone_else(slack, worker, http_bot, slow_jobs):
    job_id = queue(slack, "slow seconds=20")
    slow_jobs.append(job_id)
    running = wait_status(slack, job_id, "running")
    click(slack, running, "reportbot_cancel", BOB)
    assert f"Only <@{ALICE}>" in private_answer(slack, BOB, "Only")
    assert "*running*" in command(slack, f"status {job_id}")


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_run_again_queues_the_same_report_anew_for_whoever_clicked(slack, worker, http_bot, socket_bot, mode):
    first = queue(slack, 'echo text="once more" times=2', mode=mode)
    finished = wait_status(slack, first, "succeeded")
    assert "reportbot_cancel" not in buttons(finished)

    click(slack, finished, "reportbot_rerun", BOB, mode=mode)

    answer = private_answer(slack, BOB, "Queued")
    match = JOB_ID.search(answer)
    assert match, answer
    second = match.group(1)
    assert second != first and 'text="once more"' in answer
    again = wait_status(slack, second, "succeeded")
    assert f"<@{BOB}> ran *echo*" in section_text(again)
    replies = slack.wait_for(lambda: slack.thread(CHANNEL, again.ts), timeout=10)
    assert replies[0].text == "once more once more"
    assert len(slack.thread(CHANNEL, finished.ts)) == 1, "the first job's thread is untouched"
