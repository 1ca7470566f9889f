"""The one Slack client keeps its connection open, and still behaves as slack_sdk's own: errors,
429s and retries come out the same, and a connection Slack closed is replaced, not failed on."""

from __future__ import annotations

import select
import socket
import uuid

import pytest
from slack_sdk.errors import SlackApiError

from bot.sandbox import FakeSlack
from tasks.execution import _retry_after, run_job
from tasks.jobs import Job, new_job_id
from tasks.runtime import Runtime
from tasks.settings import Settings
from tasks.slack_client import make_client
from tests.conftest import BOT_TOKEN, REDIS_PREFIX, REDIS_URL


@pytest.fixture
def slack():  # type: ignore[no-untyped-def]
    fake = FakeSlack(bot_token=BOT_TOKEN).start()
    yield fake
    fake.stop()


def settings_for(slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, redis_url=REDIS_URL,
        redis_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:6]}:",
    )


def test_a_jobs_web_api_calls_share_one_connection(services, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    runtime = Runtime(settings_for(slack))
    for channel in ("C0KEEP1", "C0KEEP2"):
        job = Job(id=new_job_id(), report="ping", args={}, channel=channel, user="U0ALICE")
        assert run_job(job, runtime) == "succeeded"

    calls = slack.requests()
    assert [c.method for c in calls] == ["chat.postMessage", "chat.postMessage", "chat.update"] * 2
    assert len({c.peer for c in calls}) == 1, f"one connection for six calls, not {sorted({c.peer for c in calls})}"
    (reply,) = slack.thread("C0KEEP1", slack.messages("C0KEEP1")[0].ts)
    assert reply.text.startswith("pong")


def test_a_connection_slack_closed_is_replaced_and_the_message_posted_once(slack: FakeSlack) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    client.chat_postMessage(channel="C0DROP", text="first")
    (conn,) = client._connections.mine().values()  # type: ignore[attr-defined]
    conn.sock.shutdown(socket.SHUT_WR)  # the server sees the end of the stream and closes its side
    assert select.select([conn.sock], [], [], 5)[0], "the server closed the connection"

    client.chat_postMessage(channel="C0DROP", text="second")

    assert [m.text for m in slack.messages("C0DROP")] == ["first", "second"]
    posts = slack.requests("chat.postMessage")
    assert len(posts) == 2 and posts[0].peer != posts[1].peer, "the second call opened a new connection"


def test_a_429_reaches_the_caller_with_its_retry_after_and_the_connection_stays_usable(slack: FakeSlack) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url), wait_on_rate_limit=False)
    slack.fail("chat.postMessage", error="ratelimited", status=429, retry_after=3, times=1)

    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0RATE", text="too soon")
    assert refused.value.response.status_code == 429
    assert refused.value.response["error"] == "ratelimited"
    assert _retry_after(refused.value) == 3.0

    client.chat_postMessage(channel="C0RATE", text="later")
    assert [m.text for m in slack.messages("C0RATE")] == ["later"]
    assert len({r.peer for r in slack.requests("chat.postMessage")}) == 1


def test_a_slack_5xx_is_retried_by_slack_sdks_handler_and_posts_once(slack: FakeSlack) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    slack.fail("chat.postMessage", error="internal_error", status=500, times=1)

    client.chat_postMessage(channel="C0FIVE", text="through")

    assert [r.status for r in slack.requests("chat.postMessage")] == [500, 200]
    assert [m.text for m in slack.messages("C0FIVE")] == ["through"]
