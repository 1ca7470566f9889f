"""One job per delivery: a request Slack delivered once runs once, however often it arrives.

A signed request stays valid for Slack's five-minute window, so a captured or re-sent one would
queue its job again, on whichever bot process it reaches. Each request that queues a job carries
Slack's `trigger_id`, unique per invocation (a slash command, a button click), so the first
process to handle it marks it in Redis with the job's id before publishing, in the ack's one
round trip (`mark`, taken by `bot.job_cap`); any later copy finds the mark and answers with that
job instead of queueing another. The mark is removed if the publish fails, so nothing is claimed
for a job that never ran. `schedule add` marks its deliveries the same way (`first`).

If Redis does not answer in time, the job runs unguarded: refusing every command while Redis is
away would stop reports that do not need Redis at all, for a replay that needs a captured
request to happen at the same time.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

from tasks.store import Mark, Store, StoreUnavailable

log = logging.getLogger(__name__)

# Twice the signature's five-minute window, so a copy signed at the edge of the window (Slack
# accepts a timestamp up to 300 s either side of the clock) still finds the mark.
DELIVERY_TTL = 600.0


class Deliveries:
    """Marks in the store of which job each delivery (`trigger_id`) queued."""

    def __init__(self, store: Store) -> None:
        self.store = store  # the ack path's, whose calls are bounded (`CommandHandler`)
        # Removing a mark waits for nobody (`forget`).
        self._calls = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery")

    @staticmethod
    def _key(trigger_id: str) -> str:
        # A fixed-size key whatever the request carried.
        return "delivery:" + hashlib.sha256(trigger_id.encode()).hexdigest()[:32]

    def mark(self, trigger_id: object) -> Mark | None:
        """The mark of this delivery, for the ack's round trip; None when it cannot be told
        (no trigger_id)."""
        if not trigger_id or not isinstance(trigger_id, str):
            return None
        return Mark(self._key(trigger_id), DELIVERY_TTL)

    def first(self, trigger_id: object, job_id: str) -> str | None:
        """Mark this delivery as making `job_id` (a schedule's id, for `schedule add`; a job's
        mark is taken in the ack's round trip instead, see `mark`); the id an earlier copy of it
        marked, or None when this is the first (or it cannot be told: no trigger_id, or Redis
        not answering in time)."""
        if not trigger_id or not isinstance(trigger_id, str):
            return None
        try:
            return self._claim(self._key(trigger_id), job_id)
        except StoreUnavailable as exc:
            log.warning("delivery mark: store unavailable or late (%s); going on unguarded", exc)
        return None

    def _claim(self, key: str, job_id: str) -> str | None:
        if self.store.claim(key, job_id, DELIVERY_TTL):
            return None
        # Only a copy pays this second round trip; a mark expiring in between means no job.
        return self.store.get(key)

    def forget(self, trigger_id: object, job_id: str) -> None:
        """Remove the mark of a delivery whose job was not queued, so a retry may queue it;
        off the ack path, which has already spent its time on the failed publish."""
        if trigger_id and isinstance(trigger_id, str):
            self._calls.submit(self._release, self._key(trigger_id), job_id)

    def _release(self, key: str, job_id: str) -> None:
        try:
            self.store.release(key, job_id)
        except StoreUnavailable as exc:
            log.warning("delivery mark not removed: store unavailable (%s)", exc)
