"""The worker's Celery configuration, where a setting's value is a decision with a measured reason."""

from __future__ import annotations

import pytest
from kombu.transport.native_delayed_delivery import calculate_routing_key

from tasks.settings import load_settings
from tasks.worker.celery_config import WORKER_MAX_MEMORY_KIB, make_app, retry_countdown

pytestmark = pytest.mark.unit


def test_pool_processes_are_replaced_by_their_memory_not_after_a_count_of_jobs() -> None:
    """A replacement holds up the job already handed to the leaving process for seconds (the
    bench's digests showed 1.5 to 6.8 s), so it happens only when a process has grown."""
    conf = make_app(load_settings(environ={}, dotenv=None)).conf
    assert conf.worker_max_tasks_per_child is None
    assert conf.worker_max_memory_per_child == WORKER_MAX_MEMORY_KIB == 384 * 1024


def test_a_retry_through_a_quorum_queue_waits_whole_seconds_and_never_less_than_its_due_time() -> None:
    """RabbitMQ delays a quorum queue's retries in whole seconds (Celery truncates the countdown,
    and kombu refuses one under a second, which would drop the job), so ours are rounded up;
    a classic queue's worker holds the retry itself, to the millisecond."""
    for due in (0.01, 0.5, 0.99, 1.0, 1.2, 59.5):
        countdown = retry_countdown(due, "quorum")
        assert countdown >= due and countdown == int(countdown) >= 1, due
        calculate_routing_key(int(countdown), "reports")  # what Celery will do with it: accepted
    assert retry_countdown(1.2, "quorum") == 2.0
    assert retry_countdown(1.0, "quorum", jitter=0.2) == 1.0, "Slack's Retry-After, not a second more"
    assert retry_countdown(1.0, "classic", jitter=0.2) == 1.2
    assert retry_countdown(0.37, "classic") == 0.37
