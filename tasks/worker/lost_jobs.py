"""Ending the jobs no report will end: killed at the hard time limit, a pool process lost for
good, a record left running by a worker that is gone. Every job ends.

A report runs in a pool process; once that process is killed at the hard time limit or dies (out
of memory, a crash), nothing in it posts again. Celery tells the worker's main process
(`Request.on_timeout`, and `Request.on_failure` with a WorkerLostError), and `JobRequest`, the
custom request class Celery documents for this, ends the job there: failed, from a thread of
its own, so the main process's event loop never waits for Slack; it waits at most
LEASE_DROP_WAIT for Redis, to free a lost process's run lease before its job is handed back. A worker that vanished
whole cannot do even that; its jobs stay in the running index (`tasks.jobs.records.RUNNING_INDEX`) past
their deadline, and beat closes them (`close_overdue`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from billiard.exceptions import WorkerLostError
from celery.worker import state as worker_state
from celery.worker.request import Request

from tasks.jobs.records import FINAL_STATES, Job, JobRecord, JobState, Step
from tasks.logs import job_id_var
from tasks.rendering.messages import digest_message, error_result, status_message
from tasks.slack.mrkdwn import escape_mrkdwn
from tasks.store import Store, StoreUnavailable
from tasks.worker.run_lease import drop_lease
from tasks.worker.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

# The most a lost pool process's request waits, on the main process's loop, for its job's lease
# to be dropped before the job is handed back.
LEASE_DROP_WAIT = 0.2
# How long a beat's claim on closing a job holds: longer than closing one takes (four Slack calls).
CLOSING_TTL = 300.0
# Overdue jobs one pass of beat closes; the rest wait for its next pass.
CLOSE_BATCH = 10
LOST_PROCESS = (
    "Its worker process died while running the report, twice (out of memory, or killed); it is not run again."
)
LOST_WORKER = "Its worker was lost and it did not finish within its time limit; it is not run again."


def hard_limit_reason(hard: float, soft: float | None) -> str:
    asked = f": it did not stop when asked to at {soft:g} s" if soft else ""
    return f"The report was stopped at its time limit after {hard:g} s{asked}."


def close_job(
    runtime: Runtime, job: Job, reason: str, duration: float | None = None, now: float | None = None
) -> bool:
    """End `job` failed, visibly, unless it has ended already: its status message says so (posted
    now if it never was) with Run again in place of Cancel, its thread and its requester say why,
    its record is final. Returns whether it was closed here.

    Slack's refusals are logged and do not stop the rest: a channel that refuses the bot must not
    keep the job open, nor hold up the other jobs beat closes. Raises StoreUnavailable when the
    record cannot be read or saved: the job stays in the running index, closed on a later pass.
    """
    record = runtime.records.get(job.id) or JobRecord(job=job)
    if record.state in FINAL_STATES:
        runtime.records.forget_running(job.id)
        return False
    job, now = record.job, time.time() if now is None else now
    if duration is None and record.started_at:
        duration = now - record.started_at
    problem = error_result(reason)
    if job.schedule_id:  # a digest's one message says how it went, or is posted now saying so
        if not record.status_ts:
            message = digest_message(job, JobState.FAILED, problem, duration or 0.0)
            record.status_ts = (
                _slack("post its message", lambda: runtime.poster.post_in_channel(job, message)) or ""
            )
    else:
        final, posted = status_message(job, JobState.FAILED, duration=duration), bool(record.status_ts)
        if not posted:
            record.status_ts = (
                _slack("post its status", lambda: runtime.poster.post_in_channel(job, final)) or ""
            )
        if record.status_ts and not record.done(Step.RESULT):  # the why first, as a result would be
            _slack(
                "say why in its thread", lambda: runtime.poster.post_in_thread(job, record.status_ts, problem)
            )
        if posted:
            _slack("update its status", lambda: runtime.poster.update_status(job, record.status_ts, final))
    record.steps.setdefault(Step.RESULT, JobState.FAILED)
    record.state, record.finished_at, record.error = JobState.FAILED, now, reason
    record.duration = duration if duration is not None else record.duration
    runtime.records.save(record)
    text = f":warning: Job `{job.id}` ({escape_mrkdwn(job.report)}) failed. {reason}"
    _slack("tell its requester", lambda: runtime.poster.tell_requester(job, text))
    if job.schedule_id:  # one more of its schedule's failures in a row (`tasks.schedules.self_pause`)
        try:
            runtime.self_pause.run_failed(job.schedule_id)
        except Exception as exc:
            log.warning("job %s: schedule %s's failures not counted: %s", job.id, job.schedule_id, exc)
    return True


def _slack(what: str, call: Callable[[], T]) -> T | None:
    """`call()`, or None, logged, when Slack refuses it or cannot be reached."""
    try:
        return call()
    except Exception as exc:  # SlackApiError, ChannelUnavailable, a network error
        log.warning("could not %s in Slack: %s: %s", what, type(exc).__name__, exc)
        return None


def closing_key(job_id: str) -> str:
    return f"job:{job_id}:closing"


def close_overdue(runtime: Runtime, now: float | None = None, holder: str = "beat") -> int:
    """Close the jobs still unfinished past their deadline (beat, leading, calls this now and
    then). Returns how many were closed; a job that cannot be closed now is tried next time.

    Each job is claimed first (`closing_key`, for CLOSING_TTL), so two beats that both think they
    lead (a pass outliving the leader lock) close it once."""
    now = time.time() if now is None else now
    closed = 0
    for job_id in runtime.records.overdue(now, CLOSE_BATCH):
        if not runtime.store.claim(closing_key(job_id), holder, CLOSING_TTL):
            continue  # another beat is closing it
        record = runtime.records.get(job_id)
        if record is None:  # expired with its retention
            runtime.records.forget_running(job_id)
            continue
        token = job_id_var.set(job_id)
        try:
            if close_job(runtime, record.job, LOST_WORKER, now=now):
                closed += 1
                log.error(
                    "job %s (%s) closed: still running past its deadline, its worker lost",
                    job_id,
                    record.job.report,
                )
        except Exception as exc:  # Redis, now: the next pass tries again
            log.warning("job %s could not be closed yet: %s: %s", job_id, type(exc).__name__, exc)
        finally:
            job_id_var.reset(token)
    return closed


def drop_lease_quietly(store: Callable[[], Store], job_id: str, pid: int) -> None:
    try:
        drop_lease(store(), job_id, pid)
    except StoreUnavailable as exc:
        log.warning("lease of job %s not dropped (%s); its redelivery waits for it to lapse", job_id, exc)


class _Closer:
    """One thread in the worker's main process that closes jobs, with a runtime of its own built
    from the process's settings when first needed (the process's own runtime is the pool's)."""

    def __init__(self, process: Runtime) -> None:
        self.process = process
        self._threads: ThreadPoolExecutor | None = None
        self._leases: ThreadPoolExecutor | None = None
        self._runtime: Runtime | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportbot-close")
        return self._threads

    def _own_runtime(self) -> Runtime:
        self._runtime = self._runtime or Runtime(self.process.settings)
        return self._runtime

    def _store(self) -> Store:
        return self._own_runtime().store

    def submit(self, message: Any, reason: str, duration: float | None) -> None:
        self._pool().submit(self._close, message, reason, duration)

    def free_lease(self, message: Any, pid: int | None) -> None:
        """Drop the run lease of a job whose pool process died, before it is handed back, so its
        redelivery runs at once (and, dying again, ends it here) instead of waiting for the lease
        to lapse. Waited for at most LEASE_DROP_WAIT: the main process's loop must not hang on
        Redis; if it is late, the redelivery retries until the lease lapses (`tasks.worker.run_lease`)."""
        try:
            job_id = str(message["id"])
        except Exception:
            return
        if not pid:
            return
        # Its own thread: the closing thread may be busy waiting on Slack.
        self._leases = self._leases or ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportbot-lease")
        done = self._leases.submit(drop_lease_quietly, self._store, job_id, pid)
        with suppress(Exception):
            done.result(timeout=LEASE_DROP_WAIT)

    def _close(self, message: Any, reason: str, duration: float | None) -> None:
        try:
            job = Job.from_message(message)
        except Exception:
            log.exception("a lost task's message is not a job: %r", message)
            return
        token = job_id_var.set(job.id)
        try:
            if close_job(self._own_runtime(), job, reason, duration):
                log.error("job %s (%s) ended failed: %s", job.id, job.report, reason)
        except Exception:
            log.exception(
                "job %s (%s) could not be ended now; beat closes it after its deadline", job.id, job.report
            )
        finally:
            job_id_var.reset(token)


def _exception(exc_info: Any) -> BaseException | None:
    exc = getattr(exc_info, "exception", None)
    return getattr(exc, "exc", exc)  # billiard wraps it in ExceptionWithTraceback


def job_request_class(runtime: Runtime) -> type[Request]:
    """The task's request class (`Task.Request`): Celery's, ending the jobs it cannot finish."""
    closer = _Closer(runtime)

    class JobRequest(Request):
        """Runs in the worker's main process, one per delivery of a job."""

        _lost_for_good = False

        def on_timeout(self, soft: bool, timeout: float) -> None:
            super().on_timeout(soft, timeout)  # acks it (task_acks_on_timeout): never run again
            if soft or worker_state.should_terminate:
                return
            hard, soft_limit = self.time_limits
            closer.submit(
                _message(self), hard_limit_reason(hard or timeout, soft_limit), float(hard or timeout)
            )

        def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
            # A pool process lost under a job hands it back once (task_reject_on_worker_lost: a
            # process killed by accident); lost again on that redelivery, the job ends here.
            # Not a process this worker stopped itself (a cancel, a revoke, a shutdown): those
            # are redelivered, or cancelled, as Celery means them to be.
            stopped = self._already_cancelled or self._already_revoked or worker_state.should_terminate
            lost = isinstance(_exception(exc_info), WorkerLostError) and not stopped
            self._lost_for_good = lost and bool(self.delivery_info.get("redelivered"))
            if lost and not self._lost_for_good:
                closer.free_lease(_message(self), self.worker_pid)
            super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
            if self._lost_for_good:
                started = self.time_start
                duration = time.time() - started if started else None  # Celery keeps it in wall-clock time
                closer.submit(_message(self), LOST_PROCESS, duration)

        def reject(self, requeue: bool = False) -> None:
            if requeue and self._lost_for_good:
                self.acknowledge()  # not handed back again: it ends failed instead
                return
            super().reject(requeue=requeue)

    return JobRequest


def _message(request: Request) -> Any:
    args = request.args or [None]
    return args[0]
