"""Local mode's threads pool: a terminate stops the job it names, and that job only."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sandbox.thread_pool import TerminableThreadPool

pytestmark = pytest.mark.unit


class Job:
    """A pool job that runs Python until it is stopped or told to finish."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.started = threading.Event()  # running its own code
        self.finish = threading.Event()
        self.ended_by: str = ""

    def accepted(self, pid: int, _when: float) -> None:
        self.pid = pid

    def run(self) -> str:
        try:
            self.started.set()
            while not self.finish.is_set():
                time.sleep(0.01)
        except Exception as exc:
            self.ended_by = type(exc).__name__
            raise
        self.ended_by = "finish"
        return "done"


def start(pool: TerminableThreadPool, job: Job, results: list[Any]) -> Any:
    applied = pool.on_apply(job.run, (), {}, callback=results.append, accept_callback=job.accepted)
    assert job.started.wait(5)
    return applied


def test_terminate_stops_the_job_and_its_thread_runs_the_next_one() -> None:
    pool = TerminableThreadPool(limit=1)
    try:
        results: list[Any] = []
        first, second = Job(), Job()
        applied = start(pool, first, results)
        assert first.pid is not None
        pool.terminate_job(first.pid)
        applied.wait(5)
        assert first.ended_by == "JobTerminated"

        applied = start(pool, second, results)  # the same, only thread
        pool.terminate_job(first.pid)  # a late terminate for the ended job reaches no other
        time.sleep(0.1)
        second.finish.set()
        applied.wait(5)
        assert second.ended_by == "finish" and results == ["done"]
    finally:
        pool.on_stop()


def test_each_job_has_its_own_pid() -> None:
    pool = TerminableThreadPool(limit=2)
    try:
        jobs = [Job(), Job()]
        applied = [start(pool, job, []) for job in jobs]
        assert jobs[0].pid != jobs[1].pid
        for job in jobs:
            job.finish.set()
        for a in applied:
            a.wait(5)
    finally:
        pool.on_stop()
