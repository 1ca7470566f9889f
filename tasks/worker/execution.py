"""A job's steps, as a person would list them, and the Celery task that runs them.

1. post the status message in the channel (running), once the report has run `STATUS_GRACE`;
2. run the report, within its time limit;
3. post the result, or a short error, in the status message's thread;
4. update the status message: succeeded or failed, the run time, the job id.

A report done within `STATUS_GRACE` gets its status message after it has run, already saying
how it went: steps 1 and 4 become one message, and nobody sees a "running" line edited a few
milliseconds later.

A schedule's run (a digest) has no status message: step 3 posts the result in the channel, with
what step 4 would have said (`tasks.rendering.messages.digest_message`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from slack_sdk.errors import SlackApiError

from tasks.errors import UserError
from tasks.jobs.access import AccessDenied, GroupLookupFailed
from tasks.jobs.queues import RUN_REPORT, close_deadline
from tasks.jobs.records import FINAL_STATES, Cancel, Job, JobRecord
from tasks.logs import job_id_var, redact
from tasks.metrics import JOB_RETRIES, SLACK_RETRIES, observe_job
from tasks.rendering.messages import (
    Rendered,
    digest_message,
    error_result,
    format_duration,
    render_result,
    status_message,
)
from tasks.reports.context import JobContext, running
from tasks.slack.mrkdwn import escape_mrkdwn
from tasks.slack.posting import ChannelUnavailable
from tasks.store import StoreUnavailable
from tasks.worker.celery_config import retry_countdown
from tasks.worker.deferred_calls import Deferred
from tasks.worker.lost_jobs import job_request_class
from tasks.worker.run_lease import RunningElsewhere, run_lease
from tasks.worker.runtime import Runtime

log = logging.getLogger(__name__)

# Passing failures on the way (not of the report): the network, Redis, a Slack group lookup, and
# Slack's 5xx once slack_sdk's own retries are spent. The job is retried with backoff and jitter,
# resuming from the steps its record says are done. Other Slack errors are final (see run_job).
TRANSIENT = (OSError, StoreUnavailable, GroupLookupFailed)
# How often one job is retried (rate limits and passing failures together) before it is given
# up: its status message then says it failed, and the requester is told.
MAX_RETRIES = 30
BACKOFF_MAX = 60.0
# How long a job whose retry RabbitMQ refused waits before it is handed back to the queue, so a
# broker that keeps refusing is not asked again in a tight loop.
REQUEUE_PAUSE = 1.0
# Seconds a command's report runs before its "running" status message is posted. Most reports
# are done sooner: their status message is posted once, finished, after the report, which saves
# a chat.update (Tier 3: about 50 a minute per workspace, so a busy workspace's edits queue up)
# and a Redis round trip per job. Longer reports show "running" and a Cancel button from then on.
STATUS_GRACE = 0.5


class SlackUnavailable(Exception):
    """Slack answered 5xx even after slack_sdk's retries: a passing failure, retried later."""


class RateLimited(Exception):
    """Slack answered 429: the job gives its worker slot back and is retried after `retry_after`
    seconds, resuming from the steps its record says are done."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message or f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after


class Paced(RateLimited):
    """The job has just posted its status message while Slack is refusing this process's
    quick second messages (`tasks.slack.pacing`): its remaining steps are retried when the channel
    allows a second message, without asking Slack first."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait, f"paced: the result waits {wait:.2f} s for the channel's rate limit")


def _retry_after(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, when the error is a 429; else None."""
    if getattr(exc.response, "status_code", None) != 429:
        return None
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after", "")
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
    if pending:
        data = json.loads(pending)
        return record, (data["state"], float(data["duration"]), Rendered.from_json(data["result"]))
    if "result" in record.steps:  # posted before; only the status message may be left to do
        return record, (record.steps["result"], record.duration or 0.0, Rendered(text=""))
    return record, None


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


def _read_after_run(runtime: Runtime, job: Job) -> tuple[JobRecord | None, Cancel | None]:
    try:
        return runtime.records.read_after_run(job)
    except StoreUnavailable:
        log.warning("store unavailable: cannot check whether job %s was cancelled", job.id)
        return None, None


def _cancelled_before_posting(
    runtime: Runtime, record: JobRecord, cancel: Cancel, picked_at: float, duration: float
) -> str:
    """A first delivery that finds its job cancelled once the report has run, before it posted
    anything. Cancelled while it waited in the queue (a revoke this worker never got, or lost in
    a restart): nothing is posted, as if the revoke had stopped it there. Cancelled while its
    report ran: its status message says who cancelled it, and no result is posted."""
    job = record.job
    record.mark_cancelled(cancel)
    if cancel.at < picked_at:
        log.info("job %s was cancelled while queued; nothing is posted", job.report)
        return "cancelled"
    message = status_message(job, "cancelled", duration=duration, cancelled_by=cancel.by)
    record.status_ts = runtime.poster.post_in_channel(job, message)
    _save(runtime, record)
    log.info("job %s was cancelled while running; its result is not posted", job.report)
    return "cancelled"


def _save_then_cancelled_by(runtime: Runtime, record: JobRecord) -> str | None:
    """`_save` and `_cancelled_by` in one round trip. For a quick report's job, whose status
    message is already up: a cancel that came while the report ran turns it into "cancelled"."""
    try:
        return runtime.records.save_then_cancelled_by(record)
    except StoreUnavailable:
        log.warning(
            "store unavailable: job record not saved, nor checked for a cancel (job %s)", record.job.id
        )
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
    except UserError as exc:  # written for people by the report's author
        return "failed", error_result(exc.message)
    except Exception as exc:  # a report's own bug: the trace goes to the log (redacted), not to Slack
        log.exception("report %s raised", job.report)
        return "failed", error_result(report_error(job, exc))


def report_error(job: Job, exc: BaseException) -> str:
    """What the channel is told of a report's unexpected error: its kind and where to look.
    Never the exception's text, which may hold anything (a database URL, a key, a customer's
    data); a message meant for people is a `UserError`'s."""
    return (
        f"The report failed with an unexpected error (`{escape_mrkdwn(type(exc).__name__)}`). "
        f"The details are in the worker's log under job `{job.id}`."
    )


class _RunningStatus:
    """The "running" status message of a report that has not finished within STATUS_GRACE,
    posted from the process's deferred-calls thread while the report runs on the job's own.
    The job's thread leaves the record alone until `call_off` has returned."""

    def __init__(
        self, runtime: Runtime, record: JobRecord, picked_at: float, check_cancel: bool = False
    ) -> None:
        self.runtime, self.record, self.picked_at = runtime, record, picked_at
        self.check_cancel = check_cancel  # the job's record was not read before its report ran
        self.posted_at: float | None = None
        self._deferred: Deferred = runtime.deferred.after(STATUS_GRACE, self._post)

    def _post(self) -> None:
        record = self.record
        if self.check_cancel and _cancelled_by(self.runtime, record.job) is not None:
            return  # nothing to show: the job says so once its report has run
        record.status_ts = self.runtime.poster.post_in_channel(
            record.job, status_message(record.job, "running")
        )
        self.posted_at = time.monotonic()
        record.state, record.started_at = "running", record.started_at or self.picked_at
        _save(self.runtime, record)

    def call_off(self) -> float | None:
        """Stop the post if it has not started. Returns when it was made (time.monotonic()), or
        None when it was not; raises what the post raised (a 429, a channel that refuses the bot)."""
        return self.posted_at if self._deferred.call_off() else None


def run_job(job: Job, runtime: Runtime, time_limit: float | None = None, first_delivery: bool = False) -> str:
    """Run one job through its four steps; returns its final state.

    A command's report starts at once; its status message is posted STATUS_GRACE later if the
    report is still running (`_RunningStatus`), or, when the report is done sooner, after it,
    saying how it went, so it is never edited. A schedule's run (a digest) has no status
    message: once its report has run it posts one message in the channel, the result with how
    it went (`digest_message`), and attaches any files in that message's thread.

    Each step done is saved in the job's record, so a redelivered or retried job skips what it
    already posted, and a job whose report already ran posts its kept outcome instead of running
    the report again. A command's job on its `first_delivery` (neither retried nor redelivered
    by RabbitMQ) has nothing in the store yet but the bot's "queued" record and perhaps a
    cancel, so it reads them only once its report has run, and a quick one saves its record
    once, after both its messages are up: two Redis round trips for such a job. A redelivered or
    retried one reads its record first, and saves after each message: three; a longer report
    five or six, a digest four. (What that costs: a worker killed between a first delivery's
    status message and its result's save posts both again when the job is redelivered; one
    killed between a message and its save in the longer flow posts that one message again.)
    Raises RateLimited (Paced when it paces itself, `tasks.slack.pacing`) or a TRANSIENT error for the
    task to retry; every other failure ends here, said in the channel.
    """
    token = job_id_var.set(job.id)
    digest = bool(job.schedule_id)
    read_late = first_delivery and not digest
    record, outcome = (JobRecord(job=job), None) if read_late else _load(runtime, job)
    kept = outcome is not None and outcome[2].to_json() != Rendered(text="").to_json()
    try:
        if record.state in FINAL_STATES:  # finished before a redelivery, or cancelled meanwhile
            log.info("job %s is already %s; not running it again", job.report, record.state)
            return record.state
        picked_at = time.time()
        record.deadline = close_deadline(picked_at, time_limit or runtime.settings.report_time_limit)
        refusal = _refused(runtime, job)
        if refusal:
            log.warning(
                "job %s refused: user %s may not run it in channel %s", job.report, job.user, job.channel
            )
            runtime.poster.tell_requester(job, refusal)
            record.state, record.finished_at, record.error = "failed", time.time(), "not_allowed"
            _save(runtime, record)
            return "failed"
        if digest and record.state == "queued":
            record.state, record.started_at = "running", picked_at
            _save(runtime, record)
        posted_at: float | None = None  # when this delivery posted the status message
        if outcome is None:
            # Run now, so a status message already posted (finished, by an earlier delivery)
            # is brought up to date with this run's outcome.
            record.steps.pop("status", None)
            running = (
                _RunningStatus(runtime, record, picked_at, check_cancel=read_late)
                if not digest and not record.status_ts
                else None
            )
            started = time.monotonic()
            try:
                state, result = run_report_safely(job, runtime, time_limit, picked_at)
            except BaseException:  # the process is being stopped: post nothing more
                if running is not None:
                    with contextlib.suppress(Exception):
                        running.call_off()
                raise
            outcome = (state, time.monotonic() - started, result)
            if running is not None:
                posted_at = running.call_off()
        state, duration, result = outcome
        status_unsaved = False  # posted by this delivery, to be saved with its result
        if read_late and not record.status_ts:  # the first read of a first delivery
            stored, cancel = _read_after_run(runtime, job)
            if cancel is not None:
                return _cancelled_before_posting(runtime, stored or record, cancel, picked_at, duration)
            if (
                stored is not None and stored.state in FINAL_STATES
            ):  # a copy of it, published twice, ran first
                log.info("job %s is already %s; not posting it again", job.report, stored.state)
                return stored.state
            if stored is not None and stored.status_ts:  # that copy is posting: carry on from its steps
                stored.deadline, record = record.deadline, stored
        if not digest and not record.status_ts:  # done within the grace: posted once, finished
            record.status_ts = runtime.poster.post_in_channel(
                job, status_message(job, state, duration=duration)
            )
            posted_at = time.monotonic()
            record.state, record.started_at = "running", record.started_at or picked_at
            record.steps["status"] = "final"
            if read_late:  # its cancel was read just before the post
                status_unsaved, cancelled_by = True, None
            else:
                cancelled_by = _save_then_cancelled_by(runtime, record)
        else:
            cancelled_by = _cancelled_by(runtime, job)
        if cancelled_by is not None:  # the revoke did not stop it in time: post nothing more
            if record.status_ts and not digest:
                message = status_message(job, "cancelled", duration=duration, cancelled_by=cancelled_by)
                runtime.poster.update_status(job, record.status_ts, message)
            log.info("job %s was cancelled while running; its result is not posted", job.report)
            return "cancelled"
        if posted_at is not None and "result" not in record.steps:
            wait = runtime.pacing.wait_before_reply(posted_at)
            if wait > 0:  # the result waits for the channel's limit, kept for the retry
                if status_unsaved:
                    _save(runtime, record)
                if not kept:
                    _keep_pending(runtime, job, *outcome)
                raise Paced(wait)
        finished_message = digest or record.steps.get("status") == "final"
        if "result" not in record.steps:
            if result.files and not kept:  # uploads come after the post: keep them for a retry
                _keep_pending(runtime, job, *outcome)
                kept = True
            if digest:  # its one message is the parent of its files' thread
                record.status_ts = runtime.poster.post_in_channel(
                    job, digest_message(job, state, result, duration)
                )
            else:
                runtime.poster.post_in_thread(job, record.status_ts, result)
            record.steps["result"], record.duration = state, duration
            if not result.files:
                record.steps["files"] = "none"
                if finished_message:  # it already says how it went: nothing is left to do
                    record.state, record.finished_at = state, time.time()
            _save(runtime, record)  # at once: a worker killed after this must not post it again
        if "files" not in record.steps:
            uploaded = runtime.poster.upload_files(job, record.status_ts, result.files)
            record.steps["files"] = "uploaded" if uploaded else "failed"
        if not finished_message:
            runtime.poster.update_status(job, record.status_ts, status_message(job, state, duration=duration))
        if record.state not in FINAL_STATES:
            record.state, record.finished_at = state, time.time()
            _save(runtime, record)
        if kept:
            _drop_pending(runtime, job)
        log.info("job %s %s in %s", job.report, state, format_duration(duration))
        return state
    except ChannelUnavailable as exc:
        record.state, record.finished_at, record.error = "failed", time.time(), exc.error
        _save(runtime, record)
        log.warning("job %s could not post: %s", job.report, exc.error)
        return "failed"
    except SlackApiError as exc:
        _save(runtime, record)  # keep the steps done, so a retry does not repeat them
        retry_after = _retry_after(exc)
        status = getattr(exc.response, "status_code", 200)
        if retry_after is None and status < 500:  # Slack refused what we sent: no retry will help
            error = str(exc.response.get("error", "")) or f"HTTP {status}"
            give_up(job, runtime, f"Slack refused a message of this job ({error})", record)
            return "failed"
        if outcome is not None and "files" not in record.steps and not kept:
            _keep_pending(runtime, job, *outcome)
        if retry_after is not None and exc.response.api_url.endswith("chat.postMessage"):
            runtime.pacing.refused()
        if retry_after is None:
            raise SlackUnavailable(f"Slack answered HTTP {status}") from exc
        raise RateLimited(retry_after) from exc
    except TRANSIENT:
        _save(runtime, record)  # keep the steps done, so the retry does not repeat them
        if outcome is not None and "files" not in record.steps and not kept:
            _keep_pending(runtime, job, *outcome)
        raise
    finally:
        job_id_var.reset(token)


def _drop_pending(runtime: Runtime, job: Job) -> None:
    try:
        runtime.records.drop_pending(job.id)
    except StoreUnavailable:
        pass  # it expires on its own (PENDING_TTL)


def give_up(job: Job, runtime: Runtime, reason: str, record: JobRecord | None = None) -> None:
    """End a job that cannot be finished, visibly: the record and the status message say it
    failed and why, the requester is told, and the log has the job id. Never raises."""
    log.error("job %s given up: %s", job.report, reason)
    reason = redact(reason, runtime.settings.secrets())  # it may quote a library's error
    try:
        record = record or _load(runtime, job)[0]
    except Exception:  # the store may be what failed
        record = JobRecord(job=job)
    record.state, record.finished_at, record.error = "failed", time.time(), reason
    _save(runtime, record)
    text = f":warning: Job `{job.id}` ({escape_mrkdwn(job.report)}) could not be finished: {escape_mrkdwn(reason)}."
    try:
        if record.status_ts:
            runtime.poster.update_status(job, record.status_ts, status_message(job, "failed", note=text))
    except Exception as exc:
        log.warning("could not mark job %s failed in Slack: %s", job.id, exc)
    runtime.poster.tell_requester(job, text + " The details are in the worker's log.")


def register_tasks(app: Celery, runtime: Runtime) -> None:
    """Define reportbot's tasks on `app`, bound to this process's runtime."""

    # Request: what the worker's main process does when a job's pool process is killed at the
    # hard time limit or lost for good (`tasks.worker.lost_jobs`).
    # Not shared: each app's task is bound to its own runtime, so another app in the process
    # (the sandbox's, a test's) must not pick it up under the same name.
    @app.task(
        name=RUN_REPORT, bind=True, max_retries=MAX_RETRIES, Request=job_request_class(runtime), shared=False
    )
    def run_report(self: Task, message: dict[str, Any]) -> str:
        job = Job.from_message(message)
        limits = self.request.timelimit or (None, None)
        soft = limits[1] or runtime.settings.report_time_limit
        started = time.monotonic()
        # Neither retried (a retry is a new message) nor handed back by RabbitMQ (a worker lost,
        # a connection dropped, a retry that could not be queued): see run_job's first_delivery.
        first = not self.request.retries and not (self.request.delivery_info or {}).get("redelivered", True)
        try:
            with run_lease(runtime.store, job.id):  # RabbitMQ may hand it over while a first copy runs
                outcome = run_job(job, runtime, time_limit=soft, first_delivery=first)
        except Paced as exc:  # the statuses' own times stagger these: no jitter needed
            return _retry_or_give_up(self, job, exc, exc.retry_after, "paced")
        except RateLimited as exc:
            # Slack said when; a digest's jobs hit the limit staggered as they posted, so a
            # quarter second of jitter keeps their retries from arriving together.
            return _retry_or_give_up(
                self, job, exc, exc.retry_after, "ratelimited", jitter=random.uniform(0, 0.25)
            )
        except RunningElsewhere as exc:
            # Its holder renews the lease, so it is alive and ends the job itself; this copy only
            # covers its death (the lease then lapses), so it is never given up as failed.
            if self.request.retries >= MAX_RETRIES:
                log.warning("job %s: this copy is dropped, another delivery still runs it", job.report)
                return "running elsewhere"
            return _retry_or_give_up(self, job, exc, min(BACKOFF_MAX, 2.0**self.request.retries), "elsewhere")
        except (SlackUnavailable, *TRANSIENT) as exc:
            backoff = min(BACKOFF_MAX, 2.0**self.request.retries) * random.uniform(0.5, 1.0)
            return _retry_or_give_up(self, job, exc, backoff, type(exc).__name__)
        observe_job(job.report, outcome, time.monotonic() - started)
        return outcome

    def _retry_or_give_up(
        task: Task, job: Job, exc: Exception, due: float, reason: str, jitter: float = 0.0
    ) -> str:
        countdown = retry_countdown(due, runtime.settings.celery_queue_type, jitter)
        if task.request.retries >= MAX_RETRIES:
            # The error's kind for Slack; its text (a host, a URL) for the log only.
            log.error("job %s: its last retry failed too: %s: %s", job.report, type(exc).__name__, exc)
            give_up(job, runtime, f"it still failed after {MAX_RETRIES} retries ({type(exc).__name__})")
            observe_job(job.report, "failed", None)
            return "failed"
        level = logging.INFO if reason == "paced" else logging.WARNING  # pacing is the plan, not a fault
        log.log(level, "job %s will be retried in %.1f s: %s", job.report, countdown, exc)
        JOB_RETRIES.labels(reason=reason if reason in ("ratelimited", "paced") else "error").inc()
        if reason == "ratelimited":
            SLACK_RETRIES.labels(reason="ratelimited").inc()
        # Re-published now, and this delivery ends normally (`throw=False`, as Celery documents
        # it). Raising Celery's Retry instead made the worker copy the traceback of every
        # retry, frame by frame (billiard's ExceptionInfo): in a profile of a digest under the
        # strict rate limit that was the dearest part of a retried job. The task then counts
        # as succeeded in Celery's eyes; the job's own record says it is still running.
        try:
            task.retry(
                exc=exc,
                countdown=countdown,
                throw=False,
                argsrepr=f"{job.report} retry {job.id}",
                kwargsrepr="{}",
            )
        except Reject as refused:
            # The retry could not be published, and Celery would reject this delivery without
            # requeueing it: the job would be gone. It goes back to the queue instead, and its
            # next delivery resumes from the steps its record says are done.
            log.error(
                "job %s: its retry could not be queued (%s); handing it back", job.report, refused.reason
            )
            time.sleep(REQUEUE_PAUSE)
            raise Reject(refused.reason, requeue=True) from None
        return f"retry in {countdown:.1f} s"
