"""The records of queued jobs: written off the ack path, a burst in a few round trips, none lost
to a Redis hiccup or a normal exit."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Sequence

import pytest

from bot.queued_records import LINGER, QueuedRecords
from tasks.jobs.records import Job, JobRecords
from tasks.store import ClaimAndPush, RedisStore, StoreUnavailable
from tests.support import REDIS_PREFIX, REDIS_URL, ROOT


class CountingStore(RedisStore):
    """The real Redis store, counting round trips; the first one waits for `go`."""

    def __init__(self, prefix: str) -> None:
        super().__init__(REDIS_URL, prefix=prefix)
        self.go = threading.Event()
        self.batches: list[int] = []

    def claim_and_push_many(self, entries: Sequence[ClaimAndPush]) -> list[bool]:
        self.go.wait(10)
        self.batches.append(len(entries))
        return super().claim_and_push_many(entries)


def job(n: int, channel: str = "C0BURST") -> Job:
    return Job(id=f"{n:08x}", report="ping", args={}, channel=channel, user="U0ALICE")


@pytest.fixture
def prefix(services: None) -> str:
    return f"{REDIS_PREFIX}queued-{uuid.uuid4().hex[:8]}:"


def test_a_burst_of_commands_is_recorded_in_a_few_round_trips_and_shows_in_history(prefix: str) -> None:
    store = CountingStore(prefix)
    records = JobRecords(store)
    queued = QueuedRecords(records)

    def send(k: int) -> None:
        for i in range(50):
            queued.add(job(k * 100 + i))

    senders = [threading.Thread(target=send, args=(k,)) for k in range(6)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    store.go.set()  # Redis answers only now: everything above has piled up behind the first write
    assert queued.flush(10)

    # Two entries a job: its place in the channel's history and in its requester's recent jobs.
    assert sum(store.batches) == 2 * 300 and len(store.batches) <= 3, store.batches
    found = [records.get(f"{k * 100 + i:08x}") for k in range(6) for i in range(50)]
    states = {record.state if record else None for record in found}
    assert states == {"queued"}, "what `status <id>` shows for each of them"
    assert len(records.history("C0BURST", count=50)) == 50, "`history` lists the newest fifty"


def test_a_record_redis_refused_is_logged_and_the_next_ones_are_written(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    class FailsOnce(CountingStore):
        def claim_and_push_many(self, entries: Sequence[ClaimAndPush]) -> list[bool]:
            if not self.batches:
                self.batches.append(0)
                raise StoreUnavailable("Connection refused")
            return super().claim_and_push_many(entries)

    store = FailsOnce(prefix)
    store.go.set()
    records = JobRecords(store)
    queued = QueuedRecords(records)
    with caplog.at_level(logging.WARNING, logger="bot.queued_records"):
        queued.add(job(1))  # never raises into the command's listener
        assert queued.flush(10)
    assert any("no record for `status`" in r.getMessage() for r in caplog.records)
    assert records.get(job(1).id) is None

    queued.add(job(2))
    assert queued.flush(10)
    record = records.get(job(2).id)
    assert record is not None
    assert record.state == "queued"


def test_records_still_waiting_when_the_bot_exits_normally_are_written(prefix: str) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from bot.queued_records import QueuedRecords
        from tasks.jobs.records import Job, JobRecords
        from tasks.store import RedisStore

        class Slow(RedisStore):
            def claim_and_push_many(self, entries):
                time.sleep(0.3)
                return super().claim_and_push_many(entries)

        queued = QueuedRecords(JobRecords(Slow({REDIS_URL!r}, prefix={prefix!r})))
        for i in range(20):
            queued.add(Job(id=f"{{i:08x}}", report="ping", args={{}}, channel="C0EXIT", user="U0ALICE"))
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=30)
    records = JobRecords(RedisStore(REDIS_URL, prefix=prefix))
    assert [r.job.id for r in records.history("C0EXIT", count=50)] == [
        f"{i:08x}" for i in reversed(range(20))
    ]


def test_commands_a_few_milliseconds_apart_share_round_trips(prefix: str) -> None:
    store = CountingStore(prefix)
    store.go.set()
    records = JobRecords(store)
    queued = QueuedRecords(records)
    started = time.monotonic()
    for i in range(30):  # a steady stream, as a busy workspace sends them
        queued.add(job(i, channel="C0STREAM"))
        time.sleep(0.002)
    span = time.monotonic() - started
    assert queued.flush(10)

    assert sum(store.batches) == 2 * 30  # each job: its channel's history and its requester's jobs
    # One round trip per LINGER of the stream at most, where one each would be thirty.
    assert len(store.batches) <= span / LINGER + 2 and len(store.batches) < 15, (store.batches, span)
    assert len(records.history("C0STREAM", count=50)) == 30
