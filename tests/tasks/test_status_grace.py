"""A command's status message: posted once, finished, for a report done within STATUS_GRACE;
posted "running" with its Cancel button for a longer one, while it runs, and updated after.
Against real Redis and the fake Slack, with the worker's own `run_job`."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox import FakeSlack
from tasks.jobs.records import Job, new_job_id
from tasks.reports import Report
from tasks.slack.pacing import Pacing
from tasks.worker.deferred_calls import DeferredCalls
from tasks.worker.execution import STATUS_GRACE, Paced, RateLimited, run_job
from tests.support import BOT_TOKEN, Clock, worker_runtime

SLOW = STATUS_GRACE + 0.7


@pytest.fixture
def clock() -> Clock:
    """The worker's pacing clock: a paced job's retry is due when the test moves it."""
    return Clock()


@pytest.fixture
def runtime(services, clock):
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    runs: list[str] = []

    def quick() -> str:
        runs.append("quick")
        return "42 orders"

    def slow() -> str:
        runs.append("slow")
        time.sleep(SLOW)
        return "the long one"

    rt = worker_runtime(
        slack,
        Report.from_function(quick, name="quick"),
        Report.from_function(slow, name="slow"),
        pacing=Pacing(clock),
    )
    yield rt, slack, runs
    slack.stop()


def command_job(report: str, channel: str) -> Job:
    return Job(id=new_job_id(), report=report, args={}, channel=channel, user="U0ALICE")


def round_trips(rt) -> list[str]:
    """The Redis round trips `rt`'s job records make from now on (each goes through `_call`)."""
    store, trips = rt.records.store, []
    real = store._call

    def counted(fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", "?"))
        return real(fn, *args, **kwargs)

    store._call = counted
    return trips


@pytest.mark.parametrize("first_delivery, trips", [(True, 2), (False, 3)])
def test_a_quick_report_gets_its_status_message_once_already_finished(runtime, first_delivery, trips) -> None:
    rt, slack, _ = runtime
    job = command_job("quick", "C0QUICK")
    made = round_trips(rt)
    assert run_job(job, rt, first_delivery=first_delivery) == "succeeded"
    assert len(made) == trips, made  # a first delivery reads its record after the report, saves it once
    (status,) = slack.messages("C0QUICK")
    assert "succeeded in" in str(status.blocks) and f"job `{job.id}`" in str(status.blocks)
    assert "Run again" in str(status.blocks) and "Cancel" not in str(status.blocks)
    assert [m.text for m in slack.thread("C0QUICK", status.ts)] == ["42 orders"]
    assert not slack.requests("chat.update") and not status.edits, "never edited: nothing to edit"
    record = rt.records.get(job.id)
    assert record is not None and record.state == "succeeded" and record.status_ts == status.ts


def test_a_long_report_shows_running_with_cancel_while_it_runs_then_how_it_went(runtime) -> None:
    rt, slack, _ = runtime
    job = command_job("slow", "C0SLOW")
    seen: list[str] = []

    def look_while_it_runs() -> None:
        # Once the "running" message is up, posted from the deferred-calls thread after
        # STATUS_GRACE, and once the record it saves after the post is no longer "queued".
        posted = slack.wait_for(lambda: slack.messages("C0SLOW"), timeout=SLOW + 5, message="running")
        seen.extend(str(m.blocks) for m in posted)
        saved = slack.wait_for(
            lambda: (r := rt.records.get(job.id)) is not None and r.state != "queued" and r,
            timeout=SLOW + 5,
            message="its record saved",
        )
        seen.append(saved.state)

    watcher = threading.Thread(target=look_while_it_runs)
    watcher.start()
    assert run_job(job, rt) == "succeeded"
    watcher.join()
    assert len(seen) == 2 and "running" in seen[0] and "Cancel" in seen[0], seen
    assert seen[1] == "running", "status and history say it runs"
    (status,) = slack.messages("C0SLOW")
    assert "succeeded in" in str(status.blocks) and "Run again" in str(status.blocks)
    assert [m.text for m in slack.thread("C0SLOW", status.ts)] == ["the long one"]
    assert [r.method for r in slack.requests()] == ["chat.postMessage", "chat.postMessage", "chat.update"]


def test_a_refused_running_message_keeps_the_result_for_the_retry(runtime, clock) -> None:
    rt, slack, runs = runtime
    slack.fail("chat.postMessage", error="ratelimited", status=429, retry_after=1, times=1)
    job = command_job("slow", "C0LATE")
    with pytest.raises(RateLimited):
        run_job(job, rt)
    assert runs == ["slow"] and slack.messages("C0LATE") == []

    # The retry posts the status message; the worker, refused a moment ago, paces the result.
    with pytest.raises(Paced) as paced:
        run_job(job, rt)
    clock.advance(paced.value.retry_after)
    assert run_job(job, rt) == "succeeded"
    assert runs == ["slow"], "the retry posts what the report returned, without running it again"
    (status,) = slack.messages("C0LATE")
    assert "succeeded in" in str(status.blocks)
    assert [m.text for m in slack.thread("C0LATE", status.ts)] == ["the long one"]


def test_a_first_delivery_paced_after_its_status_message_posts_its_result_once_later(runtime, clock) -> None:
    rt, slack, runs = runtime
    rt.pacing.refused()  # Slack refused this process a moment ago: quick second messages wait
    job = command_job("quick", "C0PACED")
    with pytest.raises(Paced) as paced:
        run_job(job, rt, first_delivery=True)
    (status,) = slack.messages("C0PACED")
    assert "succeeded in" in str(status.blocks) and slack.thread("C0PACED", status.ts) == []

    clock.advance(paced.value.retry_after)
    assert run_job(job, rt) == "succeeded"  # the retry: its record says the status message is up
    assert runs == ["quick"]
    (again,) = slack.messages("C0PACED")
    assert again.ts == status.ts and [m.text for m in slack.thread("C0PACED", status.ts)] == ["42 orders"]


def test_a_job_whose_channel_refuses_the_running_message_fails_and_says_why(runtime) -> None:
    rt, slack, _ = runtime
    slack.fail("chat.postMessage", error="not_in_channel", times=1)
    job = command_job("slow", "C0OUT")
    assert run_job(job, rt) == "failed"
    (told,) = slack.requests("chat.postEphemeral")
    assert "/invite @reportbot" in told.params["text"] and slack.messages("C0OUT") == []
    record = rt.records.get(job.id)
    assert record is not None and record.state == "failed" and record.error == "not_in_channel"


@pytest.mark.unit
def test_a_deferred_call_runs_at_its_time_unless_called_off_first() -> None:
    calls = DeferredCalls()
    made: list[str] = []
    early = calls.after(0.3, lambda: made.append("early"))
    late = calls.after(0.05, lambda: made.append("late"))
    assert early.call_off() is False
    past_early = threading.Event()  # calls are made in order of their time, on one thread
    calls.after(0.35, past_early.set)
    assert past_early.wait(5), "the called-off call's time has passed"
    assert made == ["late"] and late.call_off() is True


@pytest.mark.unit
def test_a_running_deferred_call_is_waited_for_and_its_error_raised_to_the_caller() -> None:
    calls = DeferredCalls()
    started = threading.Event()

    def post() -> None:
        started.set()
        time.sleep(0.2)
        raise OSError("connection reset")

    deferred = calls.after(0, post)
    assert started.wait(2)
    began = time.monotonic()
    with pytest.raises(OSError, match="connection reset"):
        deferred.call_off()
    assert time.monotonic() - began >= 0.1, "call_off waited for the call to end"
