"""The count of a person's jobs in flight means the same in Redis and in the in-memory store
(the local sandbox's): expired jobs are dropped, the limit holds, a finished job leaves."""

from __future__ import annotations

import uuid

import pytest

from tasks.jobs.in_flight import INTERACTIVE_PER_USER, LOST_AFTER, JobsInFlight
from tasks.jobs.records import Job
from tasks.store import MemoryStore, RedisStore, Store
from tests.support import REDIS_PREFIX, REDIS_URL

NOW = 1_800_000_000.0


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.unit), "redis"])
def store(request) -> Store:
    if request.param == "memory":
        return MemoryStore()
    request.getfixturevalue("services")
    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex}:")


def job(n: int, user: str = "U0ALICE", at: float = NOW) -> Job:
    return Job(id=f"{n:08x}", report="ping", args={}, channel="C0X", user=user, requested_at=at)


def test_the_limit_holds_and_the_lane_turns_bulk_after_the_first_few(store: Store) -> None:
    counted = JobsInFlight(store, clock=lambda: NOW)
    admitted = [counted.admit(job(n), 60, limit=4) for n in range(6)]
    assert [a.allowed for a in admitted] == [True] * 4 + [False] * 2
    assert [a.bulk for a in admitted[:4]] == [n >= INTERACTIVE_PER_USER for n in range(4)]
    assert counted.admit(job(9, user="U0BOB"), 60, limit=4).allowed


def test_a_finished_job_leaves_and_an_expired_one_is_dropped(store: Store) -> None:
    counted = JobsInFlight(store, clock=lambda: NOW)
    counted.admit(job(1), 60, limit=2)
    counted.admit(job(2, at=NOW - 60 - LOST_AFTER + 5), 60, limit=2)
    assert not counted.admit(job(3), 60, limit=2).allowed
    counted.done(job(1))
    assert counted.admit(job(3), 60, limit=2).allowed
    later = JobsInFlight(store, clock=lambda: NOW + 10)  # job 2's time is up
    assert later.admit(job(4), 60, limit=2).ahead == 1
