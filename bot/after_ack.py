"""What the bot does once Slack has its ack: carry out a button's command, show a cancel.

The records of newly queued jobs are not written here but by `bot.queued_records`, in batches.

Bolt runs our listeners in the request's thread (`process_before_response`), so an exception a
listener raised after `ack()` would turn the ack into an HTTP 500, and Slack would show
`dispatch_failed` for a job that was in fact queued. Work after the ack therefore goes through
here: it runs on a small pool, and whatever it raises is logged, never returned to Bolt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class AfterAck:
    """A pool for after-ack work that never raises into the listener that hands it over."""

    def __init__(self, threads: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="after-ack")

    def run(self, work: Callable[[], object], what: str) -> None:
        """Run `work` on the pool; a failure is logged under `what`."""
        try:
            future = self._pool.submit(work)
        except RuntimeError:  # the pool stops with the process: do it here rather than drop it
            self._logged(work, what)
            return
        future.add_done_callback(lambda done: self._log_failure(done, what))

    @staticmethod
    def _logged(work: Callable[[], object], what: str) -> None:
        try:
            work()
        except Exception:
            log.exception("%s: after-ack work failed", what)

    @staticmethod
    def _log_failure(done: Future[object], what: str) -> None:
        exc = done.exception()
        if exc is not None:
            log.error("%s: after-ack work failed", what, exc_info=exc)
