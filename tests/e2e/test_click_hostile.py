"""What someone outside a channel can learn or do there: by clicking a status message's buttons
with a signed click from elsewhere, or by asking the `queue` report what is running.

The real bot and worker processes, on a RabbitMQ virtual host of this module's own (so only this
module's worker runs its jobs), with the fake Slack at the HTTP boundary. A click is what Slack
would sign and send; its `channel` and `user` are the clicker's, the button's value a job id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fault_reports import FINANCE_BOSS, FINANCE_CHANNEL
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
    base_env,
    start_bot,
    start_worker,
)

CLICKS = Services(
    BROKER_ROOT, REDIS_URL, name=f"{SESSION}-clicks", bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET
)
REPORTS = f"{TEST_REPORTS},tests.fault_reports"
JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
PRIVATE, ELSEWHERE = "C0PRIV", "C0ELSE"
ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
UNKNOWN = "0badf00d"
# How long a job that was wrongly queued would take to show its status message on an idle worker.
SETTLE = 3.0


# This module's processes: its virtual host, the finance report restricted to one channel, one admin.
EXTRA = {
    "CELERY_BROKER_URL": CLICKS.broker_url,
    "REDIS_PREFIX": CLICKS.redis_prefix,
    "REPORT_MODULES": REPORTS,
    "ADMIN_USERS": ADMIN,
}


@pytest.fixture(scope="module")
def rig(services, slack_server, tmp_path_factory) -> Iterator[tuple[Process, Process]]:
    """This module's bot (HTTP) and worker (two slots), on this module's virtual host."""
    CLICKS.__enter__()
    tmp = tmp_path_factory.mktemp("clicks")
    worker = start_worker(
        "clicks-worker",
        "tasks",
        base_env(slack_server.api_url, **EXTRA),
        tmp,
        *WORKER_OPTIONS,
        "--concurrency=2",
        celery_cli=True,
    )
    try:
        bot, _ = start_bot(slack_server, tmp, "clicks-bot", **EXTRA)
    except BaseException:
        worker.stop()
        raise
    previous = getattr(slack_server, "bot_url", None)
    yield bot, worker
    slack_server.bot_url = previous
    bot.stop()
    worker.stop()
    CLICKS.__exit__(None, None, None)


@pytest.fixture
def clicks(rig, slack) -> Any:
    """The fake Slack, its commands and clicks going to this module's bot."""
    slack.bot_url = f"http://127.0.0.1:{rig[0].port}/slack/events"
    return slack


@pytest.fixture
def slow_jobs(clicks) -> Iterator[list[tuple[str, str]]]:
    """(channel, job id) of long jobs a test starts; cancelled at the end, freeing the worker."""
    started: list[tuple[str, str]] = []
    yield started
    for channel, job_id in started:
        clicks.send_command("/run-report", f"cancel {job_id}", channel=channel, user=ADMIN)


# ----------------------------------------------------------------------------- helpers


def command(slack, text: str, channel: str, user: str) -> str:
    response = slack.send_command("/run-report", text, channel=channel, user=user)
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def queue(slack, text: str, channel: str, user: str) -> str:
    ack = command(slack, text, channel, user)
    match = JOB_ID.search(ack)
    assert match, f"no job id in the ack: {ack!r}"
    return match.group(1)


def status_message(slack, job_id: str, channel: str, word: str, timeout: float = 20) -> Any:
    """The job's status message in `channel`, once its text says `word`."""
    return slack.wait_for(
        lambda: next(
            (
                m
                for m in slack.messages(channel)
                if f"job `{job_id}`" in str(m.blocks) and word in str(m.blocks)
            ),
            None,
        ),
        timeout=timeout,
        message=f"job {job_id}'s status message to say {word!r}",
    )


def result_of(slack, job_id: str, channel: str) -> str:
    """The text of the finished job's result, in its thread."""
    status = status_message(slack, job_id, channel, "succeeded")
    replies = slack.wait_for(
        lambda: slack.thread(channel, status.ts), timeout=10, message=f"job {job_id}'s result"
    )
    return " ".join(str(r.text) for r in replies)


def click(slack, action_id: str, job_id: str, user: str, channel: str, message: Any = None) -> Any:
    """A signed block_actions click on a button whose value is `job_id`, by `user` in `channel`:
    on `message` when given, else on a message the clicker's Slack shows (any, for a forged id)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "reportbot_actions",
                "value": job_id,
                "text": {"type": "plain_text", "text": "Run again"},
                "action_ts": str(time.time()),
            }
        ],
    }
    if message is not None:
        payload["container"] = {"type": "message", "message_ts": message.ts, "channel_id": channel}
        payload["message"] = {"ts": message.ts, "text": message.text, "blocks": message.blocks}
    response = slack.send_interaction(payload)
    assert response.ok and response.elapsed < 3.0, response
    return response


def private_answers(
    slack, user: str, channel: str, count: int, after: int = 0, timeout: float = 10
) -> list[str]:
    """The texts of `count` ephemerals `user` got in `channel` after the first `after` ones."""

    def arrived() -> list[Any] | None:
        found = slack.ephemerals(user=user, channel=channel)[after:]
        return found if len(found) >= count else None

    found = slack.wait_for(
        arrived, timeout=timeout, message=f"{count} more ephemeral(s) to {user} in {channel}"
    )
    return [str(e.text) for e in found[:count]]


def real_and_unknown(answers: list[str]) -> tuple[str, str]:
    """(the answer about the real job, the answer about UNKNOWN): each click is answered after
    its ack, on a thread of its own, so they arrive in either order."""
    real, unknown = sorted(answers, key=lambda text: UNKNOWN in text)
    return real, unknown


def job_ids_posted(slack, *channels: str) -> set[str]:
    return {m for c in channels for m in JOB_ID.findall(" ".join(str(x.blocks) for x in slack.messages(c)))}


# ------------------------------------------------------------------------------ Run again


def test_run_again_clicked_from_another_channel_by_another_user_reveals_and_runs_nothing(clicks) -> None:
    slack = clicks
    job_id = queue(slack, 'echo text="secret plans"', PRIVATE, ALICE)
    finished = status_message(slack, job_id, PRIVATE, "succeeded")
    before = job_ids_posted(slack, PRIVATE, ELSEWHERE)

    click(slack, "reportbot_rerun", job_id, BOB, ELSEWHERE, finished)
    click(slack, "reportbot_rerun", UNKNOWN, BOB, ELSEWHERE)
    real, unknown = real_and_unknown(private_answers(slack, BOB, ELSEWHERE, 2))

    assert real == unknown.replace(UNKNOWN, job_id) == command(slack, f"status {job_id}", ELSEWHERE, BOB)
    assert f"There is no job `{job_id}` in this channel" in real
    for leak in ("echo", "secret", ALICE, "Queued"):
        assert leak not in real
    time.sleep(SETTLE)
    assert job_ids_posted(slack, PRIVATE, ELSEWHERE) == before, "a job ran for the refused click"
    assert "No jobs have run in this channel yet" in command(slack, "history", ELSEWHERE, BOB)


def test_a_channel_restricted_report_does_not_run_again_for_a_click_from_outside_its_channel(clicks) -> None:
    slack = clicks
    job_id = queue(slack, "finance", FINANCE_CHANNEL, FINANCE_BOSS)
    finished = status_message(slack, job_id, FINANCE_CHANNEL, "succeeded")
    before = job_ids_posted(slack, FINANCE_CHANNEL, ELSEWHERE)

    # Its owner may see the job from anywhere, but the report runs only in its channel.
    click(slack, "reportbot_rerun", job_id, FINANCE_BOSS, ELSEWHERE, finished)
    (refusal,) = private_answers(slack, FINANCE_BOSS, ELSEWHERE, 1)

    assert "You cannot run `finance` here" in refusal and "Nothing was queued" in refusal, refusal
    time.sleep(SETTLE)
    assert job_ids_posted(slack, FINANCE_CHANNEL, ELSEWHERE) == before, (
        "the report ran for a click from outside"
    )


def test_run_again_clicked_by_the_owner_in_the_jobs_channel_runs_it_there(clicks) -> None:
    slack = clicks
    first = queue(slack, 'echo text="once more"', PRIVATE, ALICE)
    finished = status_message(slack, first, PRIVATE, "succeeded")

    seen = len(slack.ephemerals(user=ALICE, channel=PRIVATE))
    click(slack, "reportbot_rerun", first, ALICE, PRIVATE, finished)
    (answer,) = private_answers(slack, ALICE, PRIVATE, 1, after=seen)
    match = JOB_ID.search(answer)
    assert match, answer
    second = match.group(1)

    assert second != first and 'text="once more"' in answer
    assert result_of(slack, second, PRIVATE) == "once more"


# --------------------------------------------------------------------------------- Cancel


def test_cancel_clicked_from_another_channel_by_another_user_reveals_and_stops_nothing(
    clicks, slow_jobs
) -> None:
    slack = clicks
    job_id = queue(slack, "slow seconds=20", PRIVATE, ALICE)
    slow_jobs.append((PRIVATE, job_id))
    running = status_message(slack, job_id, PRIVATE, "running")

    click(slack, "reportbot_cancel", job_id, BOB, ELSEWHERE, running)
    click(slack, "reportbot_cancel", UNKNOWN, BOB, ELSEWHERE)
    real, unknown = real_and_unknown(private_answers(slack, BOB, ELSEWHERE, 2))

    assert real == unknown.replace(UNKNOWN, job_id) == command(slack, f"status {job_id}", ELSEWHERE, BOB)
    assert "*running*" in command(slack, f"status {job_id}", PRIVATE, ALICE)


# ------------------------------------------------------------------------- the queue report


def test_the_queue_report_names_only_the_running_jobs_of_the_channel_it_answers_in(clicks, slow_jobs) -> None:
    """Its answer is posted in the channel, for all its members: other channels' jobs are only
    counted, whoever asks (their owner and admins included)."""
    slack = clicks
    private = queue(slack, "slow seconds=20", PRIVATE, ALICE)
    slow_jobs.append((PRIVATE, private))
    status_message(slack, private, PRIVATE, "running")

    for user in (BOB, ALICE, ADMIN):
        asked = queue(slack, "queue", ELSEWHERE, user)
        answer = result_of(slack, asked, ELSEWHERE)
        assert "Workers online*: 1" in answer and "2 running" in answer, answer
        assert private not in answer, f"another channel's job id, asked by {user}: {answer}"
        assert f"`{asked}`; 1 from other channels" in answer, "this channel's own running job is named"

    asked_here = queue(slack, "queue", PRIVATE, BOB)
    assert private in result_of(slack, asked_here, PRIVATE), "the channel's own jobs are named"
