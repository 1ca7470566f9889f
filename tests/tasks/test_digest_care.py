"""Digests that look after themselves, run by the worker's steps in process against real Redis
and the fake Slack: a failed run is one short message with Retry; failures in a row pause the
schedule, said once in its channel and to its creator; a run that skips posts nothing; a
channel that refuses the bot for good pauses its schedule instead of failing every run."""

from __future__ import annotations

import time

import pytest

from sandbox import FakeSlack
from tasks.jobs.records import HOME_STALE_INDEX, Job, new_job_id
from tasks.reports import Report, Skip
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore, failures_key
from tasks.worker.execution import run_job
from tasks.worker.lost_jobs import close_job
from tests.support import BOT_TOKEN, worker_runtime

OWNER = "U0OWNER"
CHANNEL = "C0DIGEST"


@pytest.fixture
def env(services):
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    outcomes: dict[str, object] = {"orders": "3 new orders"}

    def broken() -> str:
        raise ValueError("password=hunter2 at db.internal")

    def orders() -> object:
        return outcomes["orders"]

    rt = worker_runtime(
        slack, Report.from_function(broken, name="broken"), Report.from_function(orders, name="orders")
    )
    yield rt, slack, outcomes
    slack.stop()


def stored_schedule(rt, report: str, schedule_id: str = "s-morning", channel: str = CHANNEL) -> Schedule:
    schedule = Schedule(
        id=schedule_id, report=report, args={}, rule=Rule(every_seconds=3600), channel=channel, user=OWNER
    )
    ScheduleStore(rt.store).add(schedule)
    return schedule


def stored(rt, schedule_id: str) -> Schedule:
    found = ScheduleStore(rt.store).get(schedule_id)
    assert found is not None
    return found


def run(rt, schedule: Schedule) -> str:
    job = Job(
        id=new_job_id(),
        report=schedule.report,
        args={},
        channel=schedule.channel,
        user=schedule.user,
        schedule_id=schedule.id,
    )
    return run_job(job, rt)


def texts(slack: FakeSlack, channel: str) -> list[str]:
    return [str(m.blocks) if m.blocks else m.text for m in slack.messages(channel)]


def test_a_failing_digest_says_so_shortly_with_retry_and_pauses_itself_once_at_the_limit(env) -> None:
    rt, slack, _ = env
    schedule = stored_schedule(rt, "broken")

    for _ in range(2):
        assert run(rt, schedule) == "failed"
    first, second = slack.messages(CHANNEL)
    for message in (first, second):
        blocks = str(message.blocks)
        assert "failed after" in blocks and "`ValueError`" in blocks and "Retry" in blocks
        assert "hunter2" not in blocks and "hunter2" not in message.text, "never the exception's text"
        assert "Run now" in blocks and "Pause" in blocks and "Remove" in blocks
    assert stored(rt, schedule.id).paused is False
    assert slack.messages(OWNER) == []

    assert run(rt, schedule) == "failed"
    paused = stored(rt, schedule.id)
    assert paused.paused and paused.paused_reason == "its last 3 runs in a row failed"
    *_, third, notice = slack.messages(CHANNEL)
    assert "Retry" in str(third.blocks)
    assert (
        "paused itself: its last 3 runs in a row failed" in notice.text
        and "schedule resume s-morning" in notice.text
    )
    [dm] = slack.messages(OWNER)
    assert "Your schedule `s-morning`" in dm.text and f"<#{CHANNEL}>" in dm.text and "3 runs" in dm.text
    assert OWNER in rt.store.due(HOME_STALE_INDEX, time.time() + 1, 10), "beat republishes the creator's Home"

    assert run(rt, schedule) == "failed", "a Run now while paused fails again"
    assert len(slack.messages(OWNER)) == 1, "said once"
    assert sum("paused itself" in m.text for m in slack.messages(CHANNEL)) == 1

    ScheduleStore(rt.store).set_paused(stored(rt, schedule.id), False)  # `schedule resume`
    for _ in range(3):
        assert run(rt, schedule) == "failed"
    assert stored(rt, schedule.id).paused, "resumed, it gets the same three chances again"
    assert len(slack.messages(OWNER)) == 2


def test_a_run_that_posts_or_skips_starts_the_failures_in_a_row_again(env) -> None:
    rt, slack, outcomes = env
    schedule = stored_schedule(rt, "orders")
    key = failures_key(schedule.id)
    for outcome, state in (("3 new orders", "succeeded"), (Skip("no new orders"), "skipped")):
        outcomes["orders"] = outcome
        rt.store.count_up(key, 60)
        rt.store.count_up(key, 60)

        assert run(rt, schedule) == state
        assert rt.store.get(key) is None

    assert rt.store.count_up(key, 60) == 1


def test_a_skipped_digest_posts_nothing_and_is_recorded(env) -> None:
    rt, slack, outcomes = env
    outcomes["orders"] = Skip("no new orders")
    job = Job(id=new_job_id(), report="orders", args={}, channel=CHANNEL, user=OWNER, schedule_id="s-x")

    assert run_job(job, rt) == "skipped"

    assert slack.messages(CHANNEL) == [] and slack.ephemerals() == []
    record = rt.records.get(job.id)
    assert record is not None and record.state == "skipped" and record.finished_at


def test_a_skipped_command_run_says_so_with_the_reason(env) -> None:
    rt, slack, outcomes = env
    outcomes["orders"] = Skip("no new orders since *Monday*")
    job = Job(id=new_job_id(), report="orders", args={}, channel="C0ASKED", user="U0ALICE")

    assert run_job(job, rt, first_delivery=True) == "skipped"

    [status] = slack.messages("C0ASKED")
    shown = str(status.blocks)
    assert "skipped after" in shown and "no new orders since *Monday*" in shown and "Run again" in shown
    assert slack.thread("C0ASKED", status.ts) == [], "nothing in its thread"
    assert rt.records.get(job.id).state == "skipped"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("channel_not_found", "I cannot see its channel any more"),
        ("is_archived", "its channel is archived"),
        ("not_in_channel", "I am no longer a member of its channel"),
    ],
)
def test_a_channel_that_refuses_the_bot_for_good_pauses_the_schedule_and_tells_its_creator(
    env, error: str, reason: str
) -> None:
    rt, slack, _ = env
    schedule = stored_schedule(rt, "orders")
    slack.fail("chat.postMessage", error, times=1)

    assert run(rt, schedule) == "failed"

    paused = stored(rt, schedule.id)
    assert paused.paused and paused.paused_reason.startswith(reason)
    [dm] = slack.messages(OWNER)
    assert "Your schedule `s-morning`" in dm.text and reason in dm.text
    assert slack.messages(CHANNEL) == [] and slack.ephemerals() == []
    assert len(slack.requests("chat.postMessage")) == 2, "one refused post, one DM: no retry"

    slack.fail("chat.postMessage", error, times=1)
    assert run(rt, schedule) == "failed"
    assert len(slack.messages(OWNER)) == 1, "the creator is told once"


def test_the_app_losing_its_access_pauses_the_schedule_without_a_retry(env) -> None:
    rt, slack, _ = env
    schedule = stored_schedule(rt, "orders")
    slack.fail("chat.postMessage", "invalid_auth", times=1)

    assert run(rt, schedule) == "failed"

    paused = stored(rt, schedule.id)
    assert paused.paused and "lost its access" in paused.paused_reason
    assert len(slack.requests("chat.postMessage")) == 1, "no DM with a token that does not work"


def test_a_digest_closed_after_its_worker_was_lost_counts_as_a_failure(env) -> None:
    rt, _, _ = env
    schedule = stored_schedule(rt, "orders")
    job = Job(id=new_job_id(), report="orders", args={}, channel=CHANNEL, user=OWNER, schedule_id=schedule.id)

    assert close_job(rt, job, "Its worker was lost.", duration=3.0)

    assert rt.store.get(failures_key(schedule.id)) == "1"
