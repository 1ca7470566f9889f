"""The worker's Celery configuration, where a setting's value is a decision with a measured reason."""

from __future__ import annotations

from tasks.celery import WORKER_MAX_MEMORY_KIB, make_app
from tasks.settings import load_settings


def test_pool_processes_are_replaced_by_their_memory_not_after_a_count_of_jobs() -> None:
    """A replacement holds up the job already handed to the leaving process for seconds (the
    bench's digests showed 1.5 to 6.8 s), so it happens only when a process has grown."""
    conf = make_app(load_settings(environ={}, dotenv=None)).conf
    assert conf.worker_max_tasks_per_child is None
    assert conf.worker_max_memory_per_child == WORKER_MAX_MEMORY_KIB == 384 * 1024
