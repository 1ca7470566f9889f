"""A job's steps, as a person would list them, and the Celery task that runs them.

1. post the status message in the channel (running);
2. run the report, within its time limit;
3. post the result, or a short error, in the status message's thread;
4. update the status message: succeeded or failed, the run time, the job id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from slack_sdk.errors import SlackApiError

from tasks.access import AccessDenied
from tasks.celery import RUN_REPORT
from tasks.errors import UserError
from tasks.jobs import Job, JobRecord
from tasks.logs import job_id_var, redact
from tasks.metrics import observe_job
from tasks.mrkdwn import escape_mrkdwn
from tasks.posting import ChannelUnavailable
from tasks.rendering import Rendered, error_result, format_duration, render_result, status_message
from tasks.reports.context import JobContext, running
from tasks.runtime import Runtime
from tasks.store import StoreUnavailable

log = logging.getLogger(__name__)

# Failures of Slack or Redis on the way (not of the report): retried with backoff and jitter.
# Each posting step is recorded per job, so a retry does not post twice.
TRANSIENT = (SlackApiError, OSError, StoreUnavailable)


def _record(runtime: Runtime, job: Job, **changes: Any) -> None:
    try:
        runtime.records.update(job, **changes)
    except StoreUnavailable:
        log.warning("store unavailable: job record not updated (%s)", ", ".join(changes))


def _cancelled(runtime: Runtime, job: Job) -> JobRecord | None:
    """The job's record if someone cancelled it: the durable guard, since Celery keeps revokes
    in memory only (a revoked message redelivered after a worker restart must still not run)."""
    try:
        record = runtime.records.get(job.id)
    except StoreUnavailable:
        log.warning("store unavailable: cannot check whether job %s was cancelled; running it", job.id)
        return None
    return record if record is not None and record.state == "cancelled" else None


def _refused(runtime: Runtime, job: Job) -> str | None:
    """Why this job may not run, or None. Checked again here, not only by the bot, so a job
    forged into the queue (or queued before a report was restricted) cannot bypass the rules."""
    report = runtime.registry.get(job.report)
    if report is None:
        return None  # run_report_safely says the report is unknown
    try:
        runtime.access.check(report, job.channel, job.user)
    except AccessDenied as exc:
        return exc.message
    return None


def run_report_safely(
    job: Job, runtime: Runtime, time_limit: float | None, picked_at: float
) -> tuple[str, Rendered]:
    """Run the report; whatever happens, return the final state and what the thread shows."""
    report = runtime.registry.get(job.report)
    if report is None:
        return "failed", error_result(
            f"This worker does not know the report `{escape_mrkdwn(job.report)}`. "
            "Its REPORT_MODULES may differ from the bot's."
        )
    try:
        args = report.convert_args(job.args)
        context = JobContext(job.id, job.user, job.channel, job.requested_at, picked_at, job.schedule_id)
        with running(context):
            result = report.run(args)
        return "succeeded", render_result(result, name=job.report)
    except SoftTimeLimitExceeded:
        limit = f"{time_limit:g} seconds" if time_limit else "its time limit"
        log.warning("report %s timed out after %s", job.report, limit)
        return "failed", error_result(f"The report timed out after {limit} and was stopped.")
    except UserError as exc:
        return "failed", error_result(exc.message)
    except Exception as exc:  # a report's own bug: the trace goes to the log, not to Slack
        log.exception("report %s raised", job.report)
        detail = redact(str(exc), runtime.settings.secrets())[:300]
        what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return "failed", error_result(
            f"The report failed ({escape_mrkdwn(what)}). The details are in the worker's log under job `{job.id}`."
        )


def run_job(job: Job, runtime: Runtime, time_limit: float | None = None) -> str:
    """Run one job through its four steps; returns its final state."""
    token = job_id_var.set(job.id)
    try:
        picked_at = time.time()
        if _cancelled(runtime, job):
            log.info("job %s was cancelled before it started; not running it", job.report)
            return "cancelled"
        refusal = _refused(runtime, job)
        if refusal:
            log.warning("job %s refused: user %s may not run it in channel %s", job.report, job.user, job.channel)
            runtime.poster.tell_requester(job, refusal)
            _record(runtime, job, state="failed", finished_at=time.time(), error="not_allowed")
            return "failed"
        _record(runtime, job, state="running", started_at=picked_at)
        ts = runtime.poster.post_status(job, status_message(job, "running"))
        _record(runtime, job, status_ts=ts)
        started = time.monotonic()
        state, result = run_report_safely(job, runtime, time_limit, picked_at)
        duration = time.monotonic() - started
        cancelled = _cancelled(runtime, job)
        if cancelled:  # the revoke did not stop it (another broker, a lost message): keep quiet
            message = status_message(job, "cancelled", duration=duration, cancelled_by=cancelled.cancelled_by)
            runtime.poster.update_status(job, ts, message)
            log.info("job %s was cancelled while running; its result is not posted", job.report)
            return "cancelled"
        runtime.poster.post_in_thread(job, ts, result)
        runtime.poster.upload_files(job, ts, result.files)
        runtime.poster.update_status(job, ts, status_message(job, state, duration=duration))
        _record(runtime, job, state=state, finished_at=time.time())
        log.info("job %s %s in %s", job.report, state, format_duration(duration))
        return state
    except ChannelUnavailable as exc:
        _record(runtime, job, state="failed", finished_at=time.time(), error=exc.error)
        log.warning("job %s could not post: %s", job.report, exc.error)
        return "failed"
    finally:
        job_id_var.reset(token)


def register_tasks(app: Celery, runtime: Runtime) -> None:
    """Define reportbot's tasks on `app`, bound to this process's runtime."""

    @app.task(
        name=RUN_REPORT,
        bind=True,
        autoretry_for=TRANSIENT,
        retry_backoff=2,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=5,
    )
    def run_report(self: Task, message: dict[str, Any]) -> str:
        job = Job.from_message(message)
        limits = self.request.timelimit or (None, None)
        soft = limits[1] or runtime.settings.report_time_limit
        started, outcome = time.monotonic(), "error"  # "error": raised, so Celery retries it
        try:
            outcome = run_job(job, runtime, time_limit=soft)
            return outcome
        finally:
            observe_job(job.report, outcome, time.monotonic() - started)
