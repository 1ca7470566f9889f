"""One delivery of a job runs at a time: a lease in the store, held while a delivery runs it.

RabbitMQ hands an unacked delivery out again once it takes its worker's connection for dead (a
broker restart, a network partition once its heartbeat timeout has fired), while that worker
may still be running the job and still reach Slack and Redis: it runs on (`tasks.worker.celery_config`), and
a worker cut off silently hears of the loss only at its own heartbeat check, twice the
heartbeat later. A job's record cannot keep two copies apart, since each reads it before its
report runs; the lease does. A holder renews it while it runs, so one that is killed lets it
lapse within `LEASE_TTL`, and the job's next delivery runs it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tasks.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

# How long a lease outlives a holder that stopped renewing it (killed, or its machine gone).
LEASE_TTL = 10.0
RENEW_EVERY = LEASE_TTL / 4


class RunningElsewhere(Exception):
    """Another delivery of this job holds its lease: this one is retried later, when that one
    has finished the job (and the retry finds it done) or has died (and its lease has lapsed)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is being run by another delivery")


def lease_key(job_id: str) -> str:
    return f"job:{job_id}:lease"


def holder_of(pid: int) -> str:
    """Who holds a lease: the process running the job, on this host, so the worker's main
    process can name the holder of a pool process it saw die (`drop_lease`)."""
    return f"{socket.gethostname()}:{pid}"


def drop_lease(store: Store, job_id: str, pid: int) -> None:
    """Free the lease of a job whose holder is known dead (pool process `pid`, lost, as the
    worker's main process saw), so the job's redelivery runs it now, not once the lease lapses.
    Only that holder's: a lease another delivery has taken meanwhile stays."""
    store.release(lease_key(job_id), holder_of(pid))


@contextmanager
def run_lease(
    store: Store, job_id: str, ttl: float = LEASE_TTL, renew_every: float = RENEW_EVERY
) -> Iterator[None]:
    """Hold job `job_id`'s lease for the block, renewed by the process's renewal thread (not the
    deferred calls' thread, whose Slack calls may wait on retries); raise RunningElsewhere when
    another delivery holds it. Without the store, the block runs unguarded, as the job's steps do."""
    key, holder = lease_key(job_id), holder_of(os.getpid())
    try:
        held = store.claim(key, holder, ttl)
    except StoreUnavailable:
        log.warning(
            "store unavailable: job %s runs without its lease (another delivery may run it too)", job_id
        )
        yield
        return
    if not held:
        raise RunningElsewhere(job_id)
    _RENEWALS.add(key, _Held(store, holder, ttl, renew_every))
    try:
        yield
    finally:
        _RENEWALS.remove(key)
        with suppress(StoreUnavailable):
            store.release(key, holder)


class _Held:
    """A lease this process holds, and when it is next renewed."""

    def __init__(self, store: Store, holder: str, ttl: float, every: float) -> None:
        self.store, self.holder, self.ttl, self.every = store, holder, ttl, every
        self.due = time.monotonic() + every


class _Renewals:
    """One thread a process renews every lease the process holds: a thread started per job would
    cost more CPU than the job's own Redis calls. A forked pool process starts its own."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0

    def add(self, key: str, held: _Held) -> None:
        with self._lock:
            self._held[key] = held
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="run-lease", daemon=True).start()
        self._wake.set()  # a lease due sooner than the thread's current wait

    def remove(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                due = min((h.due for h in self._held.values()), default=None)
            self._wake.wait(None if due is None else max(0.0, due - time.monotonic()))
            self._wake.clear()
            now = time.monotonic()
            with self._lock:
                ready = [(key, h) for key, h in self._held.items() if h.due <= now]
            for key, held in ready:
                held.due = now + held.every
                try:
                    if not held.store.extend(key, held.holder, held.ttl):
                        log.warning("lease %s lapsed while its job ran; another delivery may run it", key)
                        self.remove(key)
                except StoreUnavailable:
                    pass  # tried again at the next renewal, while the lease still has time left


_RENEWALS = _Renewals()
