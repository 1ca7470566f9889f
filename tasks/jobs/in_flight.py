"""Each person's jobs in flight (queued or running), counted across every bot process.

One sorted set per person in the store, of job ids scored by the time each job must be over by
(requested at + its hard time limit + LOST_AFTER). The bot counts and adds a job in one round
trip at the ack (`admit`); the job's record reaching a final state takes it out, in the save's
own round trip (`tasks.jobs.records.JobRecords.save`), and a cancel or a refused publish by `done`. A
job whose end is never recorded (its worker lost for good, the message dropped) stops counting
at its score, so nobody is locked out by a lost job for long.

The count does two things: a person at JOBS_PER_USER is refused at the ack, and a person with
INTERACTIVE_PER_USER jobs or more in flight has the next one queued on the bulk queue, so one
person's burst waits behind itself and not in front of everyone else's commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.jobs.queues import CLOSE_GRACE
from tasks.store import Mark, Store, StoreUnavailable

if TYPE_CHECKING:  # tasks.jobs.records calls `done`; a type is all this module needs of it
    from tasks.jobs.records import Job

log = logging.getLogger(__name__)

#: How long past its hard time limit a job still counts if its end is never recorded: until beat
#: would have closed it as lost (`CLOSE_GRACE` after its hard limit, counted from when a worker
#: took it), with five minutes' room for waiting in the queue before that.
LOST_AFTER = CLOSE_GRACE + 5 * 60
#: A person's jobs beyond this many in flight go to the bulk queue.
INTERACTIVE_PER_USER = 2


@dataclass(frozen=True)
class Admission:
    """The answer for one job: whether it may be queued, and on which lane."""

    allowed: bool
    ahead: int  # the person's jobs already in flight
    replay_of: str | None = None  # the job an earlier copy of this delivery queued (`Mark`)

    @property
    def bulk(self) -> bool:
        return self.ahead >= INTERACTIVE_PER_USER


def counted_key(user: str) -> str:
    """The store's key of `user`'s jobs in flight (`tasks.jobs.records` removes a finished job with its
    final record, in the same round trip)."""
    return f"user:{user}:jobs-in-flight"


class JobsInFlight:
    """Counts, admits and releases each person's jobs in flight (see the module's docstring)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def admit(self, job: Job, hard_limit: float, limit: int, mark: Mark | None = None) -> Admission:
        """Count `job` in unless its person has `limit` (0: no limit) in flight already, or its
        delivery's `mark` says an earlier copy queued a job (then nothing is counted).

        Redis not answering lets the job through on the normal lane: the cap protects the
        workers, and refusing every command while Redis is down would protect nothing."""
        expires_at = job.requested_at + hard_limit + LOST_AFTER
        try:
            ahead, earlier = self.store.add_counted(
                counted_key(job.user), job.id, expires_at, self.clock(), limit, mark
            )
        except StoreUnavailable as exc:
            log.warning("jobs in flight not counted (store unavailable: %s); job %s let through", exc, job.id)
            return Admission(allowed=True, ahead=0)
        return Admission(allowed=not limit or ahead < limit, ahead=ahead, replay_of=earlier)

    def done(self, job: Job, mark: Mark | None = None) -> None:
        """`job` no longer counts: it was cancelled, or never queued (then its delivery's `mark`,
        if any, is removed too, so a later copy of the request may queue it)."""
        self.store.unindex(counted_key(job.user), job.id)
        if mark is not None:
            self.store.release(mark.key, job.id)
