"""The ack path's one Redis round trip: mark the delivery, count the job in, pick its lane.

`tasks.jobs.in_flight` does it in one call, on the ack path's bounded store: the delivery's mark
(`bot.deliveries`: a copy of a request already handled gets the job its first copy queued), the
per-person cap (a person at JOBS_PER_USER is refused in words; admins have no cap), and the lane
(a person's burst goes on the bulk queue)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from tasks.errors import UserError
from tasks.jobs.in_flight import Admission, JobsInFlight
from tasks.jobs.queues import time_limits
from tasks.jobs.records import Job
from tasks.settings import Settings
from tasks.store import Mark, StoreUnavailable

log = logging.getLogger(__name__)


class JobCap:
    """JOBS_PER_USER at the ack, over the shared count of jobs in flight."""

    def __init__(self, in_flight: JobsInFlight, settings: Settings) -> None:
        self.in_flight = in_flight
        self.limit = settings.jobs_per_user
        self.admins = settings.admin_users
        self.command = settings.slack_command
        # Undoing a refused publish's count waits for nobody (`release`).
        self._undoing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-cap")

    def admit(self, job: Job, time_limit: float, mark: Mark | None = None) -> Admission:
        """Count `job` in, or UserError when its person has as many jobs in flight as allowed;
        with its delivery's `mark`, the admission names the job an earlier copy queued, if any."""
        limit = 0 if job.user in self.admins else self.limit
        # The count's store ends every call in time (`Store.bounded`); one that does not answer
        # lets the job through (`JobsInFlight.admit`).
        admission = self.in_flight.admit(job, time_limits(time_limit)[1], limit, mark)
        if not admission.allowed:
            raise UserError(
                f":hourglass: You have {admission.ahead} jobs queued or running, the most one person "
                f"may have at once here, so nothing was queued. Try again when one of them has "
                f"finished; `{self.command} history` shows how they are doing."
            )
        return admission

    def release(self, job: Job, mark: Mark | None = None) -> None:
        """`job` was counted in (and its delivery marked) but never queued: the broker refused
        it. Undone off the ack path, which the failed publish has already spent; best effort, as
        the person is told the job was not queued either way, and both expire on their own."""
        self._undoing.submit(self._undo, job, mark)

    def _undo(self, job: Job, mark: Mark | None) -> None:
        try:
            self.in_flight.done(job, mark)
        except StoreUnavailable as exc:
            log.warning("job %s not uncounted (store unavailable: %s)", job.id, exc)
