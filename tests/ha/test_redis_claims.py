"""Why beat waits for a replica before publishing a run: the failover that forgets a claim.

On the rig's Redis (`harig.redis_ha`), the replica is stopped (SIGSTOP: connected, but
acknowledging nothing, as a lagging replica: a claim's WAIT runs out), then its link is dropped
(as in a network blip), and two claims are taken on the primary, one plainly (`Store.claim`)
and one as beat takes a run's claim (`Store.claim_replicated`: no replica follows, but the
Sentinels see one they may promote); then the primary is SIGKILLed and the replica, resumed, is
promoted without either claim. The plain claim is
granted a second time: had a run been published on it, it would fire twice. The replicated one
said at once that no replica held it, so beat would not have published it (tested in
`tests/tasks/test_redis_sentinel.py`), and claiming it on the new primary is its first firing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harig.redis_ha import RedisSentinels, free_base_port
from tasks.store import StoreUnavailable, make_store
from tests.support import wait_until


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[RedisSentinels]:
    with RedisSentinels(tmp_path / "redis", free_base_port()) as sentinels:
        yield sentinels


def test_a_claim_no_replica_acknowledged_is_reported_so_and_a_promotion_forgets_it(rig) -> None:
    started = time.monotonic()
    store = make_store(rig.url, "claims:")
    assert store.claim_replicated("run:before", "job-0", 60, 1.0) == (True, True)

    primary, replica = rig.data_ports
    replica_pid = int((rig.dir / f"redis-{replica}.pid").read_text())
    os.kill(replica_pid, signal.SIGSTOP)
    try:
        # Stopped, it is still connected: WAIT runs out its time and says no replica has it.
        waited = time.monotonic()
        lagging = store.claim_replicated("run:lagging", "job-3", 60, 0.5)
        waited = time.monotonic() - waited
        # Its link dropped (as in a network blip) and it cannot come back while stopped: the
        # primary has no replica, but the Sentinels still see one they may promote.
        redis.Redis.from_url(rig.direct_url(primary)).client_kill_filter(_type="replica")
        fenced = store.claim_replicated("run:fenced", "job-1", 60, 0.5)
        assert store.claim("run:plain", "job-2", 60)
        rig.kill(primary)
    finally:
        os.kill(replica_pid, signal.SIGCONT)
    assert lagging == (True, False) and 0.4 < waited < 2.0, (lagging, waited)
    assert fenced == (True, False), fenced

    promoted = rig.wait_for_promotion(primary, timeout=30)
    assert promoted == replica
    # The first calls may fail while the Sentinels settle on the new primary; then they reach it.
    failures = 0

    def before() -> str | None:
        nonlocal failures
        try:
            return store.get("run:before")
        except StoreUnavailable:
            failures += 1
            return None

    # The claim replicated before the stop survived; both claims taken since are gone.
    assert wait_until(before, 10, what="a read on the new primary") == "job-0"
    regranted = {key: store.claim(key, "again", 60) for key in ("run:plain", "run:fenced")}
    print(
        "\nclaims across a failover:",
        {"replicated_kept": 1, "regranted": regranted, "wait_s": round(waited, 2), "failed_calls": failures},
        f"({time.monotonic() - started:.1f} s)",
    )
    assert regranted == {"run:plain": True, "run:fenced": True}


def test_after_a_switchover_a_write_to_the_demoted_primary_fails_once_then_reaches_the_new_one(rig) -> None:
    """The old primary lives on as a replica: a connection to it gets READONLY on its next write.
    redis-py's Sentinel connection turns that into a reconnect; the call fails (StoreUnavailable)
    at most once, and the next reaches the new primary. No process restarts for it."""
    store = make_store(rig.url, "switch:")
    store.set("before", "1")
    old = rig.primary_port()
    new = rig.switchover()
    assert new != old
    outcomes = []
    for i in range(5):
        try:
            store.set(f"after:{i}", "2")
            outcomes.append("ok")
        except StoreUnavailable as exc:
            outcomes.append(f"failed: {exc}")
            time.sleep(0.2)
    print("\nwrites after a switchover:", outcomes)
    assert outcomes[-3:] == ["ok"] * 3 and sum(o != "ok" for o in outcomes) <= 1, outcomes
    direct = redis.Redis.from_url(rig.direct_url(new), decode_responses=True)
    assert direct.get("switch:before") == "1" and direct.get("switch:after:4") == "2"
