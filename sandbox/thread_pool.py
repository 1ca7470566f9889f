"""Local mode's worker pool: Celery's threads pool, with Cancel stopping the job's report.

A prefork worker kills the process that runs a cancelled job; local mode's jobs run in threads
of this process (the in-memory broker lives here, so no child process could take its jobs), and
Celery's threads pool cannot terminate a job at all. This pool can: it raises `JobTerminated`
in the job's thread, which stops the report's Python code at its next bytecode (a call blocked
in C, such as a sleep or a query, returns first). The worker then finds the job cancelled in its
record and says so in the status message, as it does when a prefork worker's revoke comes late.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from celery.concurrency.base import apply_target
from celery.concurrency.thread import ApplyResult
from celery.concurrency.thread import TaskPool as CeleryThreadPool

from tasks.errors import UserError

log = logging.getLogger(__name__)


class JobTerminated(UserError):
    """Raised in a cancelled job's thread. A UserError, so the worker ends the report quietly
    (no traceback in the console) and then reads the cancel from the job's record."""

    def __init__(self) -> None:
        super().__init__("The job was cancelled and its report stopped.")


class TerminableThreadPool(CeleryThreadPool):
    """Threads that a revoke with terminate can stop: each job gets its own token as its
    "pid" (every thread shares the process's), so a terminate reaches that job's thread only
    while the job runs there, never a later job in the same thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._running: dict[int, tuple[int, str]] = {}  # token -> (thread ident, task id)

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **_: Any,
    ) -> ApplyResult:
        token = next(self._tokens)
        # The Request whose on_accepted this is: its id names the job in the console line.
        task_id = str(getattr(getattr(accept_callback, "__self__", None), "id", "") or "")
        future = self.executor.submit(
            self._run, token, task_id, target, args, kwargs, callback, accept_callback
        )
        return _TerminableResult(future)

    def _run(
        self,
        token: int,
        task_id: str,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None,
        kwargs: dict[str, Any] | None,
        callback: Callable[..., Any] | None,
        accept_callback: Callable[..., Any] | None,
    ) -> None:
        ident = threading.get_ident()
        with self._lock:
            self._running[token] = (ident, task_id)
        try:
            apply_target(target, args, kwargs, callback, accept_callback, pid=token)
        except JobTerminated:
            pass  # it arrived after the job's own code had ended
        finally:
            with self._lock:
                self._running.pop(token, None)
                _raise_in(ident, None)  # one set but not yet raised must not reach the next job

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """Stop the job that runs under token `pid`: Celery calls this for a revoke with terminate."""
        with self._lock:
            running = self._running.get(pid)
            if running is None:
                return  # it has already ended
            ident, task_id = running
            _raise_in(ident, JobTerminated)
        log.warning(
            "job %s cancelled: its report is stopped at its next Python instruction "
            "(a call blocked in C code, such as a sleep, returns first)",
            task_id or "?",
        )

    kill_job = terminate_job


class _TerminableResult(ApplyResult):
    """Celery's Request calls `terminate` on the pool's result after `terminate_job`; the job's
    thread was told to stop there, so nothing is left to do here."""

    def terminate(self, signal: int | None = None) -> None:
        pass


def _raise_in(ident: int, exc_type: type[BaseException] | None) -> None:
    """Raise `exc_type` in thread `ident` at its next bytecode; None withdraws one not yet raised.
    The interpreter's own per-thread async exception: the one way to interrupt another thread."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type) if exc_type is not None else None
    )
