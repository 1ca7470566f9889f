"""What the slash command's ack path accepts: ids Slack would send, and each delivery once.

The real command handler (`CommandHandler.handle`); its store is the real Redis under a key
prefix of each test's own, or a closed port where Redis is down; its broker the real RabbitMQ of
the session, or a closed port where a refusal must come before any publish.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import CommandHandler
from bot.job_views import describe
from bot.publish import Publisher
from tasks.jobs.records import Job, JobRecord, JobRecords, JobState
from tasks.rendering.messages import status_message
from tasks.reports import load_reports
from tasks.settings import Settings
from tasks.slack.ids import (
    channel_mention,
    is_channel_id,
    is_team_id,
    is_user_id,
    user_mention,
    valid_channel_id,
    valid_user_id,
)
from tasks.store import MemoryStore, RedisStore, Store
from tests.support import BOT_TOKEN, BROKER_URL, REDIS_PREFIX, REDIS_URL, TEST_REPORTS, free_port

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
HOSTILE_IDS = [
    "U1> <!channel",
    "U1|x",
    "u0alice",
    "",
    "U",
    "<!here>",
    "U0ALICE\n",
    "U" + "1" * 40,
    "@U0ALICE",
]


def job_id_in(text: str) -> str:
    match = JOB_ID.search(text)
    assert match, text
    return match.group(1)


def handler_with(store: Store, broker: str = BROKER_URL) -> CommandHandler:
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url="http://127.0.0.1:9/api/",
        celery_broker_url=broker,
        report_modules=tuple(TEST_REPORTS.split(",")),
    )
    return CommandHandler(
        settings, load_reports(settings.report_modules), Publisher(settings), JobRecords(store)
    )


def closed_broker() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}//"


def payload(text: str = "ping", **fields: Any) -> dict[str, Any]:
    return {
        "text": text,
        "channel_id": "C0ACK",
        "user_id": "U0ALICE",
        "team_id": "T0TEST",
        "response_url": "http://127.0.0.1:9/response/x",
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex}",
        **fields,
    }


@pytest.fixture
def store(services) -> Store:
    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex}:")


# ------------------------------------------------------------------ Slack's id shapes, pure


@pytest.mark.unit
@pytest.mark.parametrize("good", ["U0ALICE", "W012AB3CD", "U0123456789AB", "USLACKBOT"])
def test_user_ids_are_a_u_or_w_then_uppercase_letters_and_digits(good: str) -> None:
    assert is_user_id(good) and valid_user_id(good) == good and user_mention(good) == f"<@{good}>"


@pytest.mark.unit
@pytest.mark.parametrize("bad", [*HOSTILE_IDS, "C0ALICE", None, 7])
def test_anything_else_is_not_a_user_id_and_never_becomes_a_mention(bad: Any) -> None:
    assert not is_user_id(bad) and valid_user_id(bad) == ""
    assert user_mention(bad) == "someone" and user_mention(bad, unknown="Someone") == "Someone"


@pytest.mark.unit
@given(st.text(max_size=40) | st.from_regex(r"[UWCGD][A-Z0-9]{1,12}", fullmatch=True))
def test_whatever_a_request_carries_a_mention_is_one_mention_or_none(value: str) -> None:
    for shown, opener in ((user_mention(value), "<@"), (channel_mention(value), "<#")):
        if shown.startswith("<"):
            assert shown == f"{opener}{value}>" and re.fullmatch(r"[A-Z0-9]+", value), shown
        else:
            assert "<" not in shown and ">" not in shown


@pytest.mark.unit
def test_channel_and_team_ids_have_their_own_letters() -> None:
    for good in ("C0TEST", "G0PRIVATE", "D0DM", "C01234567890"):
        assert (
            is_channel_id(good) and channel_mention(good) == f"<#{good}>" and valid_channel_id(good) == good
        )
    for bad in ("U0ALICE", "C0TEST|general", "C0TEST> <!channel", "c0test", "#general", ""):
        assert (
            not is_channel_id(bad)
            and channel_mention(bad) == "another channel"
            and valid_channel_id(bad) == ""
        )
    assert is_team_id("T0TEST") and is_team_id("E0GRID") and not is_team_id("T0> <!here")


@pytest.mark.unit
def test_a_hostile_user_id_in_a_job_never_becomes_a_mention_where_the_job_is_shown() -> None:
    job = Job(id="3f9c2a71", report="ping", args={}, channel="C0ACK", user="U1> <!channel")
    record = JobRecord(job=job, state=JobState.CANCELLED, cancelled_by="U2> <!here", status_ts="1.2")
    shown = [
        str(status_message(job, state).block_dicts()) for state in ("queued", "running", "succeeded")
    ] + [
        str(status_message(job, "cancelled", cancelled_by="U2> <!here").block_dicts()),
        describe(record, "https://x/"),
    ]
    for text in shown:
        assert "<!channel" not in text and "<!here" not in text and "<@U1>" not in text, text


@pytest.mark.unit
def test_a_hostile_channel_id_never_shapes_a_link() -> None:
    job = Job(id="3f9c2a71", report="ping", args={}, channel="C1/x|evil> <!channel", user="U0ALICE")
    text = describe(JobRecord(job=job, state=JobState.SUCCEEDED, status_ts="1.2"), "https://x/")
    assert "<!channel" not in text and "evil" not in text


# ------------------------------------------------------------------ refused before anything is queued


@pytest.mark.unit
@pytest.mark.parametrize("field", ["user_id", "channel_id"])
@pytest.mark.parametrize("value", [None, *HOSTILE_IDS])
def test_a_command_without_a_real_user_or_channel_is_refused_and_nothing_is_published(
    field: str, value: Any
) -> None:
    handler = handler_with(MemoryStore(), broker=closed_broker())  # a publish would say "not queued"
    request = payload()
    if value is None:
        del request[field]
    else:
        request[field] = value
    reply = handler.handle(request)
    assert reply.outcome == "refused", reply.text
    assert "Nothing was done" in reply.text and f"`{field}`" in reply.text
    assert "<!" not in reply.text and "<@" not in reply.text and "\n" not in reply.text


@pytest.mark.unit
def test_an_odd_team_id_is_refused_but_a_missing_one_is_not_needed() -> None:
    handler = handler_with(MemoryStore(), broker=closed_broker())
    assert handler.handle(payload(team_id="T1> <!channel")).outcome == "refused"
    request = payload()
    del request["team_id"]
    assert handler.handle(request).outcome == "not_queued", "got as far as the (closed) broker"


@pytest.mark.unit
def test_every_command_needs_the_ids_not_only_a_report() -> None:
    handler = handler_with(MemoryStore(), broker=closed_broker())
    for text in ("help", "list", "status 3f9c2a71", "history", "schedule list"):
        reply = handler.handle(payload(text, user_id="U1> <!channel"))
        assert reply.outcome == "refused" and "`user_id`" in reply.text, text


@pytest.mark.unit
def test_a_command_longer_than_slack_allows_is_refused_in_the_ack_at_once() -> None:
    handler = handler_with(MemoryStore(), broker=closed_broker())
    started = time.monotonic()
    reply = handler.handle(payload("echo text=" + '"=' * 2_500_000))
    assert time.monotonic() - started < 1.0
    assert reply.outcome == "refused" and "40,000" in reply.text and len(reply.text) < 1000


# ------------------------------------------------------------------ one job per delivery


def test_the_same_delivery_twice_queues_one_job_and_both_answers_name_it(store: Store) -> None:
    request = payload("echo text=hi")
    first = handler_with(store).handle(request)
    again = handler_with(store).handle(dict(request))  # another bot process: same Redis only
    assert first.outcome == "queued" and again.outcome == "replayed", (first.text, again.text)
    assert job_id_in(again.text) == job_id_in(first.text)
    assert "*echo*" in again.text and "`text=hi`" in again.text


def test_different_deliveries_of_the_same_text_each_queue_a_job(store: Store) -> None:
    handler = handler_with(store)
    ids = {job_id_in(handler.handle(payload("ping")).text) for _ in range(3)}
    assert len(ids) == 3


def test_a_delivery_whose_publish_failed_is_not_marked_so_a_retry_can_run(store: Store) -> None:
    request = payload()
    assert handler_with(store, broker=closed_broker()).handle(request).outcome == "not_queued"
    handler = handler_with(store)
    deadline = time.monotonic() + 5
    while (reply := handler.handle(dict(request))).outcome != "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reply.outcome == "queued", reply.text


def test_with_redis_down_the_job_is_still_queued_in_time(services) -> None:
    handler = handler_with(RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    reply = handler.handle(payload())
    assert reply.outcome == "queued", reply.text
    assert time.monotonic() - started < 2.0
