"""The worker tells passing failures (retry later) from final ones, against real Redis and the
fake Slack: a group lookup Slack could not answer is retried, never taken for a refusal."""

from __future__ import annotations

import uuid

import pytest

from bot.sandbox import FakeSlack
from tasks.access import GroupLookupFailed
from tasks.execution import run_job
from tasks.jobs import Job, new_job_id
from tasks.reports import Registry, Report
from tasks.runtime import Runtime
from tasks.settings import Settings
from tests.conftest import BOT_TOKEN, REDIS_PREFIX, REDIS_URL


@pytest.fixture
def runtime(services):  # type: ignore[no-untyped-def]
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    settings = Settings(
        slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, redis_url=REDIS_URL,
        redis_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:6]}:",
    )
    rt = Runtime(settings)
    registry = Registry()
    registry.add(Report.from_function(lambda: "secret numbers", name="finance", groups=("S0FIN",)))
    rt.__dict__["registry"] = registry
    yield rt, slack
    slack.stop()


def test_a_group_lookup_slack_cannot_answer_is_retried_not_refused(runtime) -> None:  # type: ignore[no-untyped-def]
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
