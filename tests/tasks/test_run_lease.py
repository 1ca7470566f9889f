"""A job's run lease: one delivery of a job runs at a time, and a dead holder's lease lapses.

The lease itself on the in-process store (`MemoryStore`, its clock in the test's hands); then the
Celery task, run in this process against real Redis and the fake Slack, with the lease held by
"another delivery". The end-to-end case (a worker cut off from RabbitMQ while its job is handed
to another) is in tests/e2e/test_faults.py.
"""

from __future__ import annotations

import time

import pytest

from tasks.store import MemoryStore, StoreUnavailable
from tasks.worker.run_lease import RunningElsewhere, run_lease
from tests.support import BOT_TOKEN, worker_runtime


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
def test_a_second_delivery_steps_back_while_the_first_runs_and_runs_once_it_is_done() -> None:
    store = MemoryStore()
    with run_lease(store, "j1"):
        with pytest.raises(RunningElsewhere, match="j1"), run_lease(store, "j1"):
            pytest.fail("the second delivery ran alongside the first")
        with run_lease(store, "j2"):  # another job is not held up
            pass
    with run_lease(store, "j1"):  # the first is done: the next delivery runs
        pass


@pytest.mark.unit
def test_the_lease_is_given_back_when_the_job_raises() -> None:
    store = MemoryStore()
    with pytest.raises(ValueError), run_lease(store, "j1"):
        raise ValueError("a retry, a rate limit")
    with run_lease(store, "j1"):
        pass


@pytest.mark.unit
def test_a_long_run_keeps_its_lease_and_a_dead_holders_lease_lapses() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    with run_lease(store, "long", ttl=10, renew_every=0.01):
        for _ in range(8):  # 48 s of the store's time, far past the lease's 10 s
            clock.now += 6
            time.sleep(0.1)  # the renewal, on its own thread, sees the new time
            with pytest.raises(RunningElsewhere), run_lease(store, "long", ttl=10):
                pass
    store.claim("job:dead:lease", "a killed holder", ttl=10)  # claimed, never renewed nor released
    with pytest.raises(RunningElsewhere), run_lease(store, "dead"):
        pass
    clock.now += 10
    with run_lease(store, "dead"):
        pass


@pytest.mark.unit
def test_without_the_store_the_job_runs_unguarded() -> None:
    class Down(MemoryStore):
        def claim(self, key: str, value: str, ttl: float) -> bool:
            raise StoreUnavailable("connection refused")

    ran = False
    with run_lease(Down(), "j1"):
        ran = True
    assert ran


# The `tasks` package's own app shares its task under the same name; this app's is the one called.
@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_a_copy_finding_its_job_run_elsewhere_is_dropped_not_failed_once_its_retries_run_out(
    services,
) -> None:
    from sandbox import FakeSlack
    from tasks.jobs.queues import RUN_REPORT
    from tasks.jobs.records import Job, new_job_id
    from tasks.reports import Report
    from tasks.worker.celery_config import make_app
    from tasks.worker.execution import MAX_RETRIES, register_tasks

    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    try:
        runtime = worker_runtime(slack, Report.from_function(lambda: "ran", name="once"))
        app = make_app(runtime.settings)
        register_tasks(app, runtime)
        job = Job(id=new_job_id(), report="once", args={}, channel="C0LEASE", user="U0ALICE")
        runtime.store.claim(f"job:{job.id}:lease", "the delivery running it", ttl=30)

        # Its retries spent, the copy is dropped: its holder is alive and ends the job itself.
        outcome = app.tasks[RUN_REPORT].apply(args=[job.to_message()], retries=MAX_RETRIES).get()
        assert outcome == "running elsewhere"
        assert not slack.messages("C0LEASE") and not slack.ephemerals(), "nobody told it failed"
        assert runtime.records.get(job.id) is None, "no record written by the copy"
    finally:
        slack.stop()
