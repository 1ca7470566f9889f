"""JOBS_PER_USER: a person with that many jobs queued or running is refused at the ack, across
bot processes, and the count goes down however a job ends.

The real command handler on the real Redis (a key prefix of this test's own) and RabbitMQ (the
session's virtual host; no worker consumes here, so queued jobs stay queued).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace

import pytest

from bot.commands import CommandHandler, Reply
from bot.publish import Publisher
from tasks.jobs.in_flight import LOST_AFTER, JobsInFlight
from tasks.jobs.queues import time_limits
from tasks.jobs.records import JobRecord, JobRecords, JobState
from tasks.reports import load_reports
from tasks.settings import Settings
from tasks.store import RedisStore, Store
from tests.support import BOT_TOKEN, BROKER_URL, REDIS_PREFIX, REDIS_URL, TEST_REPORTS, free_port

ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
QUEUED = re.compile(r"as job `([0-9a-f]{8})`")


@pytest.fixture
def store(services) -> Store:
    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex}:")


def bot(store: Store, limit: int = 3, broker: str = BROKER_URL) -> CommandHandler:
    """One bot process's handler; two of them on one store are two bot processes."""
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        celery_broker_url=broker,
        report_modules=tuple(TEST_REPORTS.split(",")),
        admin_users=(ADMIN,),
        jobs_per_user=limit,
    )
    return CommandHandler(
        settings, load_reports(settings.report_modules), Publisher(settings), JobRecords(store)
    )


def run(handler: CommandHandler, user: str = ALICE, channel: str = "C0CAP") -> Reply:
    reply = handler.handle(
        {"text": "echo text=hi", "channel_id": channel, "user_id": user, "team_id": "T0TEST"}
    )
    handler.queued_records.flush(5)  # the records the worker would find
    return reply


def queued_id(text: str) -> str:
    match = QUEUED.search(text)
    assert match, text
    return match.group(1)


def job_of(handler: CommandHandler, reply: Reply) -> JobRecord:
    record = handler.records.get(queued_id(reply.text))
    assert record is not None
    return record


def test_a_person_at_the_cap_is_refused_at_the_ack_across_bot_processes(store: Store) -> None:
    one, two = bot(store), bot(store)
    assert [run(h).outcome for h in (one, two, one)] == ["queued"] * 3

    refused = run(two)
    assert refused.outcome == "refused"
    assert "You have 3 jobs queued or running" in refused.text and "nothing was queued" in refused.text
    assert "/run-report history" in refused.text
    # Others are not held back by it, and admins have no cap.
    assert run(one, user=BOB).outcome == "queued"
    assert all(run(two, user=ADMIN).outcome == "queued" for _ in range(5))


@pytest.mark.parametrize("end", ["succeeded", "failed", "cancelled by the worker", "cancelled by a person"])
def test_a_job_that_ends_in_any_way_frees_its_place(store: Store, end: str) -> None:
    handler = bot(store, limit=2)
    first = job_of(handler, run(handler))
    run(handler)
    assert run(handler).outcome == "refused"

    if end == "cancelled by a person":
        assert handler.records.cancel(first, ALICE)
    else:
        first.state = JobState(end.split()[0])  # as the worker saves its record at the end
        handler.records.save(first)

    assert run(handler).outcome == "queued"
    assert run(handler).outcome == "refused"


def test_a_job_whose_end_is_never_recorded_stops_counting_after_its_time(store: Store) -> None:
    handler = bot(store, limit=1)
    queued = job_of(handler, run(handler))
    assert run(handler).outcome == "refused"
    # A worker lost for good never records the end; past the hard limit and LOST_AFTER it is gone.
    hard_limit = time_limits(Settings().report_time_limit)[1]  # echo's
    just_before = JobsInFlight(store, clock=lambda: queued.job.requested_at + hard_limit + LOST_AFTER - 1)
    assert not just_before.admit(replace(queued.job, id="feedf00d"), 60, 1).allowed
    after = JobsInFlight(store, clock=lambda: queued.job.requested_at + hard_limit + LOST_AFTER + 1)
    assert after.admit(replace(queued.job, id="feedf00d"), 60, 1).allowed


def test_zero_means_no_cap(store: Store) -> None:
    handler = bot(store, limit=0)
    assert all(run(handler).outcome == "queued" for _ in range(15))


def test_a_refused_publish_does_not_use_up_a_place(store: Store) -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens: refused at once
    assert run(bot(store, limit=1, broker=closed)).outcome == "not_queued"
    assert run(bot(store, limit=1)).outcome == "queued"


def test_a_redis_that_hangs_adds_at_most_half_a_second_to_the_ack(services) -> None:
    from urllib.parse import urlsplit

    from tests.faults import FaultProxy

    redis_at = urlsplit(REDIS_URL)
    with FaultProxy(redis_at.hostname or "127.0.0.1", redis_at.port or 6379) as proxy:
        handler = bot(RedisStore(proxy.url("redis://", "/15"), prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex}:"))
        proxy.blackhole()
        started = time.monotonic()
        reply = handler.handle(
            {"text": "echo text=hi", "channel_id": "C0CAP", "user_id": ALICE, "team_id": "T0"}
        )
        took = time.monotonic() - started
    assert reply.outcome == "queued", reply.text
    assert took < 1.2, f"the ack took {took:.2f} s"


def test_a_copy_of_a_delivery_is_answered_not_counted_and_a_refused_one_leaves_no_mark(store: Store) -> None:
    handler = bot(store, limit=1)

    def deliver(trigger_id: str) -> Reply:
        reply = handler.handle(
            {"text": "echo text=hi", "channel_id": "C0CAP", "user_id": ALICE, "trigger_id": trigger_id}
        )
        handler.queued_records.flush(5)
        return reply

    first = deliver("1.2.first")
    # At the cap of one, a copy of the same delivery still gets its job, not a refusal.
    again = deliver("1.2.first")
    assert (first.outcome, again.outcome) == ("queued", "replayed"), again.text
    assert queued_id(again.text) == queued_id(first.text)

    assert deliver("1.2.second").outcome == "refused"
    record = job_of(handler, first)
    record.state = JobState.SUCCEEDED
    handler.records.save(record)
    # The refused delivery marked nothing, so its next copy is queued once there is room.
    assert deliver("1.2.second").outcome == "queued"
