"""Calls made a little later unless called off first, on one thread per process.

A command's job posts its "running" status message only once its report has run for a moment
(`tasks.worker.execution.STATUS_GRACE`): a report that is done by then gets its status message once,
already finished, instead of a "running" line that is edited a few milliseconds later. The
report runs on the job's own thread (Celery's soft time limit is a signal to that thread), so
the late post is made from here.

One thread, started on first use in the process that uses it, so Celery's prefork pool forks no
thread and no socket of a parent: every pool process has its own.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable


class Deferred:
    """One call waiting for its time. `call_off` says whether it ran, and waits for it if it is
    running, so what the call changed is seen by the caller afterwards."""

    __slots__ = ("due", "call", "state", "error", "_calls")

    def __init__(self, calls: DeferredCalls, due: float, call: Callable[[], None]) -> None:
        self._calls = calls
        self.due = due
        self.call = call
        self.state = "waiting"  # then "running" and "done", or "called off"
        self.error: BaseException | None = None

    def call_off(self) -> bool:
        """Stop the call if it has not started; True when it ran (or was running: this waits for
        its end). An exception the call raised is raised here, in the caller's thread."""
        return self._calls._call_off(self)


class DeferredCalls:
    """Calls due after a delay, made in order of their time on this process's one thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Deferred]] = []
        self._order = itertools.count()
        self._pid = -1

    def after(self, delay: float, call: Callable[[], None]) -> Deferred:
        """Make `call` in `delay` seconds, in the caller's context (its job id for the log),
        unless it is called off first."""
        context = contextvars.copy_context()
        deferred = Deferred(self, time.monotonic() + delay, lambda: context.run(call))
        with self._cond:
            if self._pid != os.getpid():  # first use in this process, or a fork of the one that had it
                self._pid, self._queue = os.getpid(), []
                threading.Thread(target=self._run, name="deferred-calls", daemon=True).start()
            heapq.heappush(self._queue, (deferred.due, next(self._order), deferred))
            if self._queue[0][2] is deferred:  # sooner than what the thread waits for
                self._cond.notify()
        return deferred

    def _call_off(self, deferred: Deferred) -> bool:
        with self._cond:
            if deferred.state == "waiting":
                deferred.state = "called off"
                self._queue = [entry for entry in self._queue if entry[2] is not deferred]
                heapq.heapify(self._queue)
                return False
            while deferred.state == "running":
                self._cond.wait()
        if deferred.error is not None:
            raise deferred.error
        return True

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._queue:
                    self._cond.wait()
                    continue
                due, _, deferred = self._queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._queue)
                deferred.state = "running"
                self._cond.release()
                try:
                    deferred.call()
                except BaseException as exc:  # handed to whoever calls it off
                    deferred.error = exc
                finally:
                    self._cond.acquire()
                    deferred.state = "done"
                    self._cond.notify_all()
