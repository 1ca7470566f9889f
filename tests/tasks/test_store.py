"""The Redis store and its in-memory twin behave alike: claims, expiry, locks, lists, hashes."""

from __future__ import annotations

import time
import uuid

import pytest

from tasks.store import MemoryStore, RedisStore, Store, StoreUnavailable
from tests.support import REDIS_PREFIX, REDIS_URL


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.unit), "redis"])
def store(request) -> Store:
    """Each test's own keys under the session's prefix, which `services` deletes at the end."""
    if request.param == "memory":
        return MemoryStore()
    request.getfixturevalue("services")
    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}store-test-{uuid.uuid4().hex[:8]}:")


def test_a_claim_is_held_by_one_caller_until_it_expires(store: Store) -> None:
    assert store.claim("run:1", "a", ttl=0.3)
    assert not store.claim("run:1", "b", ttl=0.3)
    time.sleep(0.4)
    assert store.claim("run:1", "b", ttl=0.3)


def test_only_the_holder_releases_or_extends_a_lock(store: Store) -> None:
    assert store.claim("lock", "me", ttl=5)
    assert not store.release("lock", "you") and not store.extend("lock", "you", 5)
    assert store.extend("lock", "me", 5) and store.release("lock", "me")
    assert store.claim("lock", "you", ttl=5) and not store.claim("lock", "me", ttl=5)
    assert store.release("lock", "you")
    assert store.claim("lock", "me", ttl=5)


def test_capped_lists_keep_the_newest_first(store: Store) -> None:
    for i in range(5):
        store.claim_and_push(f"job:{i}", "queued", 60, "jobs", str(i), limit=3)
    assert store.items("jobs", 10) == ["4", "3", "2"]


def test_hashes_and_values(store: Store) -> None:
    store.hset("h", "a", "1")
    store.hset("h", "b", "2")
    assert store.hget("h", "a") == "1" and store.hgetall("h") == {"a": "1", "b": "2"}
    assert store.hdel("h", "a") and not store.hdel("h", "a")
    store.set("k", "v", ttl=10)
    assert store.get("k") == "v"
    store.delete("k")
    assert store.get("k") is None


@pytest.mark.unit
def test_an_unreachable_redis_raises_store_unavailable_quickly() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        dead.get("x")
    assert time.monotonic() - started < 3


def test_a_new_job_is_claimed_and_listed_in_one_call_and_a_second_claim_loses(store: Store) -> None:
    assert store.claim_and_push("job:1", "queued", 60, "channel:C1:jobs", "1", limit=2)
    assert not store.claim_and_push("job:1", "again", 60, "channel:C1:jobs", "1b", limit=2)
    assert store.claim_and_push("job:2", "queued", 60, "channel:C1:jobs", "2", limit=2)
    assert store.get("job:1") == "queued", "the losing claim did not overwrite"
    assert store.items("channel:C1:jobs", 10) == ["2", "1b"], "pushed either way, capped"


def test_set_then_get_saves_one_key_and_reads_another(store: Store) -> None:
    assert store.set_then_get("job:a", "record", 60, "job:a:cancelled") is None
    store.set("job:a:cancelled", "marker")
    assert store.set_then_get("job:a", "record 2", 60, "job:a:cancelled") == "marker"
    assert store.get("job:a") == "record 2"


def test_a_write_can_keep_a_sorted_index_in_the_same_round_trip(store: Store) -> None:
    from tasks.store import Indexed

    store.set("job:a", "A", ttl=60, index=[Indexed("running", "a", 100.0)])
    store.set("job:b", "B", ttl=60, index=[Indexed("running", "b", 200.0)])
    assert store.set_then_get("job:c", "C", 60, "job:a", [Indexed("running", "c", 50.0)]) == "A"
    assert store.due("running", 150.0, 10) == ["c", "a"], "by score, up to the given one"
    assert store.due("running", 1000.0, 2) == ["c", "a"], "at most `count`"
    store.set("job:a", "A2", ttl=60, index=[Indexed("running", "a", None)])
    store.unindex("running", "c")
    assert store.due("running", 1000.0, 10) == ["b"] and store.get("job:a") == "A2"
