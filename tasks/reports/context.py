"""The job a report is running for, for reports that want to know (like `ping`).

A context variable rather than an argument, so a report's signature stays exactly its
user-facing arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class JobContext:
    """Who asked, where, and when: enough for a report to describe its own run."""

    job_id: str
    user: str
    channel: str
    requested_at: float
    started_at: float
    schedule_id: str = ""


_current: ContextVar[JobContext | None] = ContextVar("reportbot_job", default=None)


def current_job() -> JobContext | None:
    """The job being run in this worker thread, or None outside a job (tests, a REPL)."""
    return _current.get()


@contextmanager
def running(context: JobContext) -> Iterator[JobContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
