"""A job's steps, as a person would list them, and the Celery task that runs them.

1. post the status message in the channel (running);
2. run the report, within its time limit;
3. post the result, or a short error, in the status message's thread;
4. update the status message: succeeded or failed, the run time, the job id.
"""

from __future__ import annotations

import json
import logging
import random
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
from tasks.metrics import SLACK_RETRIES, observe_job
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
# How often one job may wait out Slack's rate limit before it is given up (and logged).
RATE_LIMIT_RETRIES = 30


class RateLimited(Exception):
    """Slack answered 429: the job gives its worker slot back and is retried after `retry_after`
    seconds, resuming from the steps its record says are done."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after


def _retry_after(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, when the error is a 429; else None."""
    if getattr(exc.response, "status_code", None) != 429:
        return None
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after")
    value = value[0] if isinstance(value, list) else value
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def _load(runtime: Runtime, job: Job) -> tuple[JobRecord, tuple[str, float, Rendered] | None]:
    """The job's record (one read), kept in memory while the job runs and saved after each step,
    and the result of an earlier attempt that Slack's rate limit kept from being posted."""
    try:
        record, pending = runtime.records.load_for_run(job)
    except StoreUnavailable:
        log.warning("store unavailable: job %s runs without its record (a retry may post twice)", job.id)
        return JobRecord(job=job), None
    if not pending or "result" in record.steps:
        return record, None
    data = json.loads(pending)
    return record, (data["state"], float(data["duration"]), Rendered.from_json(data["result"]))


def _keep_pending(runtime: Runtime, job: Job, state: str, duration: float, result: Rendered) -> None:
    payload = json.dumps({"state": state, "duration": duration, "result": result.to_json()})
    try:
        runtime.records.keep_pending(job.id, payload)
    except StoreUnavailable:
        log.warning("store unavailable: the retry of job %s will run the report again", job.id)


def _save(runtime: Runtime, record: JobRecord) -> None:
    try:
        runtime.records.save(record)
    except StoreUnavailable:
        log.warning("store unavailable: job record not saved (state %s)", record.state)


def _cancelled_by(runtime: Runtime, job: Job) -> str | None:
    """Who cancelled the job while it ran, or None. The durable guard: Celery keeps revokes in
    memory only, so a revoked message redelivered after a restart must still not post."""
    try:
        return runtime.records.cancelled_by(job.id)
    except StoreUnavailable:
        log.warning("store unavailable: cannot check whether job %s was cancelled", job.id)
        return None


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
    """Run one job through its four steps; returns its final state.

    Each step done is saved in the job's record, so a redelivered or retried job skips what it
    already posted. The record is read once and written after each step: five Redis round trips
    for a job, whatever it reports.
    """
    token = job_id_var.set(job.id)
    record, pending = _load(runtime, job)
    outcome: tuple[str, float, Rendered] | None = pending
    try:
        picked_at = time.time()
        if record.state == "cancelled":
            log.info("job %s was cancelled before it started; not running it", job.report)
            return "cancelled"
        refusal = _refused(runtime, job)
        if refusal:
            log.warning("job %s refused: user %s may not run it in channel %s", job.report, job.user, job.channel)
            runtime.poster.tell_requester(job, refusal)
            record.state, record.finished_at, record.error = "failed", time.time(), "not_allowed"
            _save(runtime, record)
            return "failed"
        if not record.status_ts:  # a retried or redelivered job already has its status message
            record.status_ts = runtime.poster.post_status(job, status_message(job, "running"))
            record.state, record.started_at = "running", record.started_at or picked_at
            _save(runtime, record)
        if outcome is None:
            started = time.monotonic()
            state, result = run_report_safely(job, runtime, time_limit, picked_at)
            outcome = (state, time.monotonic() - started, result)
        state, duration, result = outcome
        cancelled_by = _cancelled_by(runtime, job)
        if cancelled_by is not None:  # the revoke did not stop it in time: post nothing more
            message = status_message(job, "cancelled", duration=duration, cancelled_by=cancelled_by)
            runtime.poster.update_status(job, record.status_ts, message)
            log.info("job %s was cancelled while running; its result is not posted", job.report)
            return "cancelled"
        if "result" not in record.steps:
            runtime.poster.post_in_thread(job, record.status_ts, result)
            record.steps["result"] = "posted"
            _save(runtime, record)  # at once: a worker killed after this must not post it again
            if pending:
                try:
                    runtime.records.drop_pending(job.id)
                except StoreUnavailable:
                    pass  # it expires on its own (PENDING_TTL)
        if result.files and "files" not in record.steps:
            uploaded = runtime.poster.upload_files(job, record.status_ts, result.files)
            record.steps["files"] = "uploaded" if uploaded else "failed"
        runtime.poster.update_status(job, record.status_ts, status_message(job, state, duration=duration))
        record.state, record.finished_at = state, time.time()
        _save(runtime, record)
        log.info("job %s %s in %s", job.report, state, format_duration(duration))
        return state
    except ChannelUnavailable as exc:
        record.state, record.finished_at, record.error = "failed", time.time(), exc.error
        _save(runtime, record)
        log.warning("job %s could not post: %s", job.report, exc.error)
        return "failed"
    except SlackApiError as exc:
        _save(runtime, record)  # keep the steps done, so the retry does not repeat them
        retry_after = _retry_after(exc)
        if retry_after is None:
            raise
        if outcome is not None and "result" not in record.steps:
            _keep_pending(runtime, job, *outcome)
        raise RateLimited(retry_after) from exc
    except TRANSIENT:
        _save(runtime, record)  # keep the steps done, so Celery's retry does not repeat them
        raise
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
        except RateLimited as exc:
            outcome = "ratelimited"
            SLACK_RETRIES.labels(reason="ratelimited").inc()
            # Slack said when. A digest's jobs hit the limit staggered as they posted, so a
            # quarter second of jitter is enough to keep their retries from arriving together.
            countdown = exc.retry_after + random.uniform(0, 0.25)
            raise self.retry(exc=exc, countdown=countdown, max_retries=RATE_LIMIT_RETRIES) from exc
        finally:
            observe_job(job.report, outcome, time.monotonic() - started)
