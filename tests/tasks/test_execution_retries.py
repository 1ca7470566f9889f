"""The worker tells passing failures (retry later) from final ones, against real Redis and the
fake Slack: a group lookup Slack could not answer is retried, never taken for a refusal; and
once Slack has refused a quick second message, the next jobs wait for their channel themselves."""

from __future__ import annotations

import pytest

from sandbox import FakeSlack
from tasks.jobs.access import GroupLookupFailed
from tasks.jobs.records import Job, new_job_id
from tasks.reports import Report
from tasks.slack.pacing import Pacing
from tasks.worker.execution import Paced, RateLimited, run_job
from tests.support import BOT_TOKEN, Clock, worker_runtime


@pytest.fixture
def clock() -> Clock:
    """One clock for the fake Slack's rate limit and the worker's pacing, moved by the test."""
    return Clock()


@pytest.fixture
def runtime(services, clock):
    slack = FakeSlack(bot_token=BOT_TOKEN, clock=clock).start()
    rt = worker_runtime(
        slack,
        Report.from_function(lambda: "secret numbers", name="finance", groups=("S0FIN",)),
        pacing=Pacing(clock),
    )
    yield rt, slack
    slack.stop()


def test_a_group_lookup_slack_cannot_answer_is_retried_not_refused(runtime) -> None:
    rt, slack = runtime
    slack.set_usergroup("S0FIN", ["U0FIN"])
    slack.fail("usergroups.users.list", error="ratelimited", status=429, retry_after=1, times=1)
    job = Job(id=new_job_id(), report="finance", args={}, channel="C0FIN", user="U0FIN")

    with pytest.raises(GroupLookupFailed):
        run_job(job, rt)
    assert not slack.messages("C0FIN") and not slack.ephemerals(user="U0FIN"), "nothing said yet"

    assert run_job(job, rt) == "succeeded", "the retry finds the user in the group"
    status = slack.messages("C0FIN")[0]
    assert [r.text for r in slack.thread("C0FIN", status.ts)] == ["secret numbers"]


def test_after_a_refusal_the_next_job_waits_for_its_channel_instead_of_being_refused(runtime, clock) -> None:
    rt, slack = runtime
    runs: list[str] = []

    def tally() -> str:
        runs.append("ran")
        return f"run {len(runs)}"

    rt.registry.add(Report.from_function(tally, name="tally"))
    slack.rate_limit_post_message(per_second=1.0, burst=1)
    first = Job(id=new_job_id(), report="tally", args={}, channel="C0FIRST", user="U0A")
    with pytest.raises(RateLimited) as refused:
        run_job(first, rt)
    assert not isinstance(refused.value, Paced), "nothing refused yet: the first job asks Slack"
    assert [r.status for r in slack.requests("chat.postMessage")] == [200, 429]

    second = Job(id=new_job_id(), report="tally", args={}, channel="C0NEXT", user="U0A")
    with pytest.raises(Paced) as paced:
        run_job(second, rt)
    assert 0.5 < paced.value.retry_after <= 1.0, "due when the channel allows its second message"
    assert runs == ["ran", "ran"], "a quick report runs before its status message is posted"
    status = slack.messages("C0NEXT")[0]
    assert "succeeded" in str(status.blocks) and slack.thread("C0NEXT", status.ts) == []

    clock.advance(paced.value.retry_after)
    assert run_job(second, rt) == "succeeded"
    assert runs == ["ran", "ran"], "the retry posts the kept result without running the report again"
    assert [r.text for r in slack.thread("C0NEXT", status.ts)] == ["run 2"]
    assert "succeeded" in str(slack.messages("C0NEXT")[0].blocks)
    assert not [r for r in slack.requests("chat.update") if r.params.get("channel") == "C0NEXT"]
    to_next = [r.status for r in slack.requests("chat.postMessage") if r.params.get("channel") == "C0NEXT"]
    assert to_next == [200, 200], "Slack never had to refuse the paced job"
