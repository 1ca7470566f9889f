"""The records of newly queued jobs, written by one thread in batches, after the publish.

A job's first record (state "queued", and its place in the channel's history) is what `status`
and `history` show until a worker picks the job up. It stays off the ack path, and off the
after-ack pool too: a thread hand-off and a Redis round trip of its own for every command would
cost the bot nearly as much CPU as handling the command. So one thread writes whatever has
arrived in one pipeline, `LINGER` after the first of them arrived: a lone command is written
10 ms after its ack, a stream of commands in one round trip per 10 ms rather than one each.

A record not yet written when the process is killed is lost (the job still runs, and the worker
records it); a normal exit writes what is left. `status`, `history` and `cancel` wait for what
this process has not written yet (`bot.commands`), so a job just acked is never unknown to them
here; another bot process may miss it for that moment.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time

from tasks.jobs.records import Job, JobRecords
from tasks.store import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 200  # jobs in one pipeline: bounds its size when Redis was slow and a queue built up
LINGER = 0.01  # seconds a first record waits for others to share its round trip
EXIT_FLUSH_SECONDS = 2.0


class QueuedRecords:
    """Writes `JobRecords.created` for each job handed to `add`, from one background thread."""

    def __init__(self, records: JobRecords) -> None:
        self.records = records
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._unwritten = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, job: Job) -> None:
        """Hand over a queued job's record; returns at once and never raises."""
        with self._changed:
            self._unwritten += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="queued-records", daemon=True)
                self._thread.start()
                atexit.register(self.flush, EXIT_FLUSH_SECONDS)
        self._queue.put(job)

    def flush(self, timeout: float) -> bool:
        """Wait until every job handed over so far is written (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._unwritten:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            time.sleep(LINGER)
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            with self._changed:
                self._unwritten -= len(batch)
                self._changed.notify_all()

    def _write(self, jobs: list[Job]) -> None:
        try:
            self.records.created_many(jobs)
        except StoreUnavailable as exc:
            log.warning(
                "store unavailable (%s): %d queued jobs run, but have no record for `status`", exc, len(jobs)
            )
        except Exception:
            log.exception("could not record %d queued jobs", len(jobs))
