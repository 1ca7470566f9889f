"""A job's steps, as a person would list them, and the Celery task that runs them.

1. post the status message in the channel (running), once the report has run `STATUS_GRACE`;
2. run the report, within its time limit;
3. post the result, or a short error, in the status message's thread;
4. update the status message: succeeded or failed, the run time, the job id.

A report done within `STATUS_GRACE` gets its status message after it has run, already saying
how it went: steps 1 and 4 become one message, and nobody sees a "running" line edited a few
milliseconds later.

A schedule's run (a digest) has no status message: step 3 posts the result in the channel, with
what step 4 would have said (`tasks.rendering.messages.digest_message`). When it ends, its
schedule's failures in a row are counted or reset (`tasks.schedules.self_pause`).

A report that returns `Skip("why")` ends "skipped": a digest posts nothing, a command's status
message says so with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Celery, Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from slack_sdk.errors import SlackApiError

from tasks.errors import UserError
from tasks.jobs.access import AccessDenied, GroupLookupFailed
from tasks.jobs.queues import RUN_REPORT, close_deadline
from tasks.jobs.records import FINAL_STATES, Cancel, FilesStep, Job, JobRecord, JobState, StatusStep, Step
from tasks.logs import job_id_var, redact
from tasks.metrics import JOB_RETRIES, SLACK_RETRIES, observe_job
from tasks.rendering.messages import (
    Rendered,
    digest_message,
    error_result,
    format_duration,
    render_result,
    skip_result,
    status_message,
)
from tasks.reports.context import JobContext, running
from tasks.reports.results import skipped
from tasks.schedules.self_pause import LOST_ACCESS_ERRORS
from tasks.slack.mrkdwn import escape_mrkdwn
from tasks.slack.posting import ChannelUnavailable
from tasks.store import StoreUnavailable
from tasks.worker.celery_config import retry_countdown
from tasks.worker.deferred_calls import Deferred
from tasks.worker.lost_jobs import job_request_class
from tasks.worker.run_lease import RunningElsewhere, run_lease
from tasks.worker.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

# Passing failures on the way (not of the report): the network, Redis, a Slack group lookup, and
# Slack's 5xx once slack_sdk's own retries are spent. The job is retried with backoff and jitter,
# resuming from the steps its record says are done. Other Slack errors are final (see `JobRun.slack_refused`).
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


def _tolerant(call: Callable[[], T], fallback: T, cost: str, *args: object) -> T:
    """One call to the job's records; when Redis is unavailable, `fallback` and a warning saying
    what that costs. The job goes on without its record rather than fail: a job whose messages
    are up must not be reported failed because Redis blinked, and the record is only the job's
    memory for a retry (the one place StoreUnavailable is handled while a job runs)."""
    try:
        return call()
    except StoreUnavailable:
        log.warning("store unavailable: " + cost, *args)
        return fallback


@dataclass(frozen=True)
class Outcome:
    """How the report's run went: its final state, how long it ran, what its thread shows."""

    state: JobState
    duration: float
    result: Rendered

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "duration": self.duration, "result": self.result.to_json()})

    @classmethod
    def from_json(cls, raw: str) -> Outcome:
        data = json.loads(raw)
        return cls(JobState(data["state"]), float(data["duration"]), Rendered.from_json(data["result"]))


def _read_record(runtime: Runtime, job: Job) -> tuple[JobRecord, str | None]:
    """The job's record (a new one when the store cannot be read) and its kept outcome, if any,
    in one round trip."""
    without: tuple[JobRecord, str | None] = (JobRecord(job=job), None)
    return _tolerant(
        lambda: runtime.records.load_for_run(job),
        without,
        "job %s runs without its record (a retry may post twice)",
        job.id,
    )


def _save(runtime: Runtime, record: JobRecord) -> None:
    _tolerant(lambda: runtime.records.save(record), None, "job record not saved (state %s)", record.state)


def _cancelled_by(runtime: Runtime, job: Job) -> str | None:
    """Who cancelled the job while it ran, or None. The durable guard: Celery keeps revokes in
    memory only, so a revoked message redelivered after a restart must still not post."""
    return _tolerant(
        lambda: runtime.records.cancelled_by(job.id),
        None,
        "cannot check whether job %s was cancelled",
        job.id,
    )


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
) -> tuple[JobState, Rendered]:
    """Run the report; whatever happens, return the final state and what the thread shows."""
    report = runtime.registry.get(job.report)
    if report is None:
        return JobState.FAILED, error_result(
            f"This worker does not know the report `{escape_mrkdwn(job.report)}`. "
            "Its REPORT_MODULES may differ from the bot's."
        )
    try:
        args = report.convert_args(job.args)
        context = JobContext(job.id, job.user, job.channel, job.requested_at, picked_at, job.schedule_id)
        with running(context):
            result = report.run(args)
        skip = skipped(result)
        if skip is not None:
            return JobState.SKIPPED, skip_result(skip.reason)
        return JobState.SUCCEEDED, render_result(result, name=job.report)
    except SoftTimeLimitExceeded:
        limit = f"{time_limit:g} seconds" if time_limit else "its time limit"
        log.warning("report %s timed out after %s", job.report, limit)
        return JobState.FAILED, error_result(f"The report timed out after {limit} and was stopped.")
    except UserError as exc:  # written for people by the report's author
        return JobState.FAILED, error_result(exc.message)
    except Exception as exc:  # a report's own bug: the trace goes to the log (redacted), not to Slack
        log.exception("report %s raised", job.report)
        return JobState.FAILED, error_result(report_error(job, exc))


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
            record.job, status_message(record.job, JobState.RUNNING)
        )
        self.posted_at = self.runtime.pacing.now()
        record.state, record.started_at = JobState.RUNNING, record.started_at or self.picked_at
        _save(self.runtime, record)

    def call_off(self) -> float | None:
        """Stop the post if it has not started. Returns when it was made (`Pacing.now`), or
        None when it was not; raises what the post raised (a 429, a channel that refuses the bot)."""
        return self.posted_at if self._deferred.call_off() else None


def run_job(
    job: Job, runtime: Runtime, time_limit: float | None = None, first_delivery: bool = False
) -> JobState:
    """Run one job through its steps (`JobRun`); returns its final state."""
    return JobRun(job, runtime, time_limit, first_delivery).run()


class JobRun:
    """One delivery of one job, from reading its record to its final state.

    | state     | event                                | next      | posted                           |
    | --------- | ------------------------------------ | --------- | -------------------------------- |
    | loaded    | the record is final already          | (ended)   | nothing                          |
    | loaded    | the requester may not run it here    | failed    | the requester is told            |
    | loaded    | an earlier attempt's outcome is kept | ran       | nothing                          |
    | loaded    | otherwise                            | running   | "running" after STATUS_GRACE     |
    | running   | the report returns                   | ran       | nothing                          |
    | ran       | first delivery, cancelled in queue   | cancelled | nothing                          |
    | ran       | first delivery, cancelled running    | cancelled | status: cancelled                |
    | ran       | first delivery, a copy ended it      | (ended)   | nothing                          |
    | ran       | no status message yet (command)      | status up | status: how it went              |
    | status up | cancelled meanwhile                  | cancelled | status edited: cancelled         |
    | status up | channel takes no 2nd message yet     | (retry)   | nothing: raises Paced            |
    | status up | the report returned Skip             | final     | nothing (command: status says so)|
    | status up | otherwise                            | result up | result (digest: its message)     |
    | result up | it has files                         | files up  | files in the result's thread     |
    | files up  |                                      | final     | status edited if it said running |
    | any       | Slack 429 or 5xx, TRANSIENT errors   | (retry)   | nothing: raises                  |
    | any       | Slack refuses (4xx)                  | failed    | `give_up`: status, requester     |
    | any       | the channel refuses the bot          | failed    | nothing; a digest's schedule     |
    |           |                                      |           | pauses, its creator is told      |

    Each state's step is a method: `load`, `refuse`, `run_report`, `read_record_after_run`,
    `post_status`, `cancelled`, `pace`, `post_result`, `upload_files`, `finish`.

    A command's report starts at once; its status message is posted STATUS_GRACE later if the
    report is still running (`_RunningStatus`), or, when the report is done sooner, after it,
    saying how it went, so it is never edited. A schedule's run (a digest) has no status
    message: its result, with how it went (`digest_message`), is its one message, and any files
    go in that message's thread.

    Each step done is saved in the job's record, so a redelivered or retried job skips what it
    already posted, and a job whose report already ran posts its kept outcome instead of running
    the report again. Round trips to Redis are what a job costs beyond Slack, so each step reads
    and writes only what it must:

    - A command's job on its first delivery (neither retried nor redelivered by RabbitMQ) has
      nothing in the store yet but the bot's "queued" record and perhaps a cancel, so it reads
      them only once its report has run, and a quick one saves its record once, after both its
      messages are up: two round trips.
    - A redelivered or retried job reads its record first and saves after each message: three.
      A longer report, whose "running" status is saved when posted, five or six; a digest four.

    What that costs: a worker killed between a first delivery's status message and its result's
    save posts both again when the job is redelivered; one killed between a message and its
    save in the longer flow posts that one message again.

    `run` raises RateLimited (Paced when it paces itself, `tasks.slack.pacing`) or a TRANSIENT
    error for the task to retry; every other failure ends in it, said in the channel.
    """

    def __init__(
        self, job: Job, runtime: Runtime, time_limit: float | None = None, first_delivery: bool = False
    ) -> None:
        self.job, self.runtime, self.time_limit = job, runtime, time_limit
        # An input, not a state: the kind of delivery, which decides when the record is read. A
        # command's first delivery reads it only once its report has run (see above).
        self.reads_record_late = first_delivery and not self.digest
        self.record = JobRecord(job=job)
        self.outcome: Outcome | None = None  # this run's, or an earlier attempt's
        # Data: the outcome the store holds for a retry to post (`keep_pending`), read by `load`
        # or written by `keep`, and dropped by `finish`; None when the store holds none.
        self.pending: Outcome | None = None
        self.picked_at = 0.0
        # Data: when this delivery posted the status message (the pacing's clock), which the
        # result's post is paced from; None when an earlier delivery posted it.
        self.posted_at: float | None = None

    @property
    def digest(self) -> bool:
        """A schedule's run: its one message is its result, with how it went."""
        return bool(self.job.schedule_id)

    def run(self) -> JobState:
        """The job's steps, and what a failure on the way means for it (the table's "any" rows)."""
        token = job_id_var.set(self.job.id)
        try:
            if not self.reads_record_late:
                self.load()
            try:
                return self._steps()
            except ChannelUnavailable as exc:
                return self.channel_unavailable(exc)
            except SlackApiError as exc:
                return self.slack_refused(exc)
            except TRANSIENT:
                self.keep_for_retry()
                raise
        finally:
            job_id_var.reset(token)

    def _steps(self) -> JobState:
        """The table's rows in order; a step that has nothing to do returns at once."""
        if self.record.state in FINAL_STATES:  # finished before a redelivery, or cancelled meanwhile
            log.info(
                "job %s (%s) is already %s; not running it again",
                self.job.id,
                self.job.report,
                self.record.state,
            )
            return self.record.state
        self.picked_at = time.time()
        limit = self.time_limit or self.runtime.settings.report_time_limit
        self.record.deadline = close_deadline(self.picked_at, limit)
        refusal = _refused(self.runtime, self.job)
        if refusal:
            return self.refuse(refusal)
        self.start_digest()
        outcome = self.outcome or self.run_report()
        if self.reads_record_late and not self.record.status_ts:
            ended = self.read_record_after_run(outcome)
            if ended is not None:
                return ended
        cancelled_by = self.post_status(outcome)
        if cancelled_by is not None:
            return self.cancelled(outcome, cancelled_by)
        self.pace(outcome)
        self.post_result(outcome)
        self.upload_files(outcome)
        return self.finish(outcome)

    def load(self) -> None:
        """The job's record (one read), kept in memory while the job runs and saved after each
        step, and the outcome of an earlier attempt that Slack's rate limit kept from being posted."""
        self.record, pending = _read_record(self.runtime, self.job)
        if pending:
            self.outcome = self.pending = Outcome.from_json(pending)
        elif self.record.done(Step.RESULT):  # posted before; only the status message may be left to do
            state, duration = JobState(self.record.steps[Step.RESULT]), self.record.duration or 0.0
            self.outcome = Outcome(state, duration, Rendered(text=""))

    def refuse(self, refusal: str) -> JobState:
        job = self.job
        log.warning(
            "job %s (%s) refused: user %s may not run it in channel %s",
            job.id,
            job.report,
            job.user,
            job.channel,
        )
        self.runtime.poster.tell_requester(job, refusal)
        self.record.state, self.record.finished_at, self.record.error = (
            JobState.FAILED,
            time.time(),
            "not_allowed",
        )
        _save(self.runtime, self.record)
        digest_ended(self.runtime, job, JobState.FAILED)
        return JobState.FAILED

    def start_digest(self) -> None:
        """A digest says it runs in its record; a command's "running" is its status message's."""
        if self.digest and self.record.state == JobState.QUEUED:
            self.record.state, self.record.started_at = JobState.RUNNING, self.picked_at
            _save(self.runtime, self.record)

    def run_report(self) -> Outcome:
        # Run now, so a status message already posted (finished, by an earlier delivery) is
        # brought up to date with this run's outcome.
        self.record.steps.pop(Step.STATUS, None)
        running = None
        if not self.digest and not self.record.status_ts:
            running = _RunningStatus(
                self.runtime, self.record, self.picked_at, check_cancel=self.reads_record_late
            )
        started = time.monotonic()
        try:
            state, result = run_report_safely(self.job, self.runtime, self.time_limit, self.picked_at)
        except BaseException:  # the process is being stopped: post nothing more
            if running is not None:
                with contextlib.suppress(Exception):
                    running.call_off()
            raise
        self.outcome = Outcome(state, time.monotonic() - started, result)
        if running is not None:
            self.posted_at = running.call_off()
        return self.outcome

    def read_record_after_run(self, outcome: Outcome) -> JobState | None:
        """A first delivery's one read, before it posts anything: a cancel, or a copy of the job
        (published twice) that ran first. Returns the final state when that ends the job here."""
        unread: tuple[JobRecord | None, Cancel | None] = (None, None)
        stored, cancel = _tolerant(
            lambda: self.runtime.records.read_after_run(self.job),
            unread,
            "cannot check whether job %s was cancelled",
            self.job.id,
        )
        if cancel is not None:
            return self.cancelled_before_posting(stored or self.record, cancel, outcome.duration)
        if stored is not None and stored.state in FINAL_STATES:
            log.info(
                "job %s (%s) is already %s; not posting it again", self.job.id, self.job.report, stored.state
            )
            return stored.state
        if stored is not None and stored.status_ts:  # that copy is posting: carry on from its steps
            stored.deadline, self.record = self.record.deadline, stored
        return None

    def cancelled_before_posting(self, record: JobRecord, cancel: Cancel, duration: float) -> JobState:
        """Cancelled while it waited in the queue (a revoke this worker never got, or lost in a
        restart): nothing is posted, as if the revoke had stopped it there. Cancelled while its
        report ran: its status message says who cancelled it, and no result is posted."""
        job = self.job
        record.mark_cancelled(cancel)
        if cancel.at < self.picked_at:
            log.info("job %s (%s) was cancelled while queued; nothing is posted", job.id, job.report)
            return JobState.CANCELLED
        message = status_message(job, JobState.CANCELLED, duration=duration, cancelled_by=cancel.by)
        record.status_ts = self.runtime.poster.post_in_channel(job, message)
        record.duration = duration  # the run time its status shows is the one `history` shows
        _save(self.runtime, record)
        log.info("job %s (%s) was cancelled while running; its result is not posted", job.id, job.report)
        return JobState.CANCELLED

    def post_status(self, outcome: Outcome) -> str | None:
        """A command's status message, if it is not up yet: done within the grace, posted once,
        finished. Returns who cancelled the job while its report ran, or None."""
        record = self.record
        if self.digest or record.status_ts:
            return _cancelled_by(self.runtime, self.job)
        message = self.status_of(outcome)
        record.status_ts = self.runtime.poster.post_in_channel(self.job, message)
        self.posted_at = self.runtime.pacing.now()
        record.state, record.started_at = JobState.RUNNING, record.started_at or self.picked_at
        record.steps[Step.STATUS] = StatusStep.FINAL
        if self.reads_record_late:  # its cancel was read just before the post; saved with the result
            return None
        return _tolerant(
            lambda: self.runtime.records.save_then_cancelled_by(record),
            None,
            "job record not saved, nor checked for a cancel (job %s)",
            self.job.id,
        )

    def cancelled(self, outcome: Outcome, cancelled_by: str) -> JobState:
        """The revoke did not stop the report in time: its status says so, nothing more is posted."""
        if self.record.status_ts and not self.digest:
            message = status_message(
                self.job, JobState.CANCELLED, duration=outcome.duration, cancelled_by=cancelled_by
            )
            self.runtime.poster.update_status(self.job, self.record.status_ts, message)
        log.info(
            "job %s (%s) was cancelled while running; its result is not posted", self.job.id, self.job.report
        )
        return JobState.CANCELLED

    def pace(self, outcome: Outcome) -> None:
        """Raise Paced when the channel takes no second message yet from this process: the
        result, kept in the store, waits for the retry instead of a 429."""
        if self.posted_at is None or self.record.done(Step.RESULT) or outcome.state == JobState.SKIPPED:
            return  # a skipped run posts nothing after its status
        wait = self.runtime.pacing.wait_before_reply(self.posted_at)
        if wait <= 0:
            return
        if self.reads_record_late and self.status_says_how_it_went:  # its status is not saved yet
            _save(self.runtime, self.record)
        self.keep(outcome)
        raise Paced(wait)

    def post_result(self, outcome: Outcome) -> None:
        record, result = self.record, outcome.result
        if record.done(Step.RESULT):
            return
        if outcome.state == JobState.SKIPPED:
            self.record_skip(outcome)
            return
        if result.files:  # uploads come after the post: keep them for a retry
            self.keep(outcome)
        if self.digest:  # its one message is the parent of its files' thread
            message = digest_message(self.job, outcome.state, result, outcome.duration)
            record.status_ts = self.runtime.poster.post_in_channel(self.job, message)
        else:
            self.runtime.poster.post_in_thread(self.job, record.status_ts, result)
        record.steps[Step.RESULT], record.duration = outcome.state, outcome.duration
        if not result.files:
            record.steps[Step.FILES] = FilesStep.NONE
            if self.status_says_how_it_went:  # nothing is left to do
                record.state, record.finished_at = outcome.state, time.time()
        _save(self.runtime, record)  # at once: a worker killed after this must not post it again

    def record_skip(self, outcome: Outcome) -> None:
        """A skipped run posts no result: a digest nothing at all, a command only its status
        message, which says why (`status_of`). The record says it was skipped."""
        record = self.record
        record.steps[Step.RESULT], record.steps[Step.FILES] = JobState.SKIPPED, FilesStep.NONE
        record.duration = outcome.duration
        if self.status_says_how_it_went:
            record.state, record.finished_at = JobState.SKIPPED, time.time()
        _save(self.runtime, record)
        log.info("job %s (%s) skipped: %s", self.job.id, self.job.report, outcome.result.text)

    def status_of(self, outcome: Outcome) -> Rendered:
        """The status message saying how the job went; a skipped one says why under it."""
        note = outcome.result.text if outcome.state == JobState.SKIPPED else ""
        return status_message(self.job, outcome.state, duration=outcome.duration, note=note)

    def upload_files(self, outcome: Outcome) -> None:
        if not self.record.done(Step.FILES):
            uploaded = self.runtime.poster.upload_files(self.job, self.record.status_ts, outcome.result.files)
            self.record.steps[Step.FILES] = FilesStep.UPLOADED if uploaded else FilesStep.FAILED

    def finish(self, outcome: Outcome) -> JobState:
        record = self.record
        if not self.status_says_how_it_went:
            self.runtime.poster.update_status(self.job, record.status_ts, self.status_of(outcome))
        if record.state not in FINAL_STATES:
            record.state, record.finished_at = outcome.state, time.time()
            _save(self.runtime, record)
        if self.pending is not None:
            _tolerant(
                lambda: self.runtime.records.drop_pending(self.job.id),
                None,
                "the kept outcome of job %s expires on its own",
                self.job.id,
            )
        digest_ended(self.runtime, self.job, outcome.state)
        log.info(
            "job %s (%s) %s in %s",
            self.job.id,
            self.job.report,
            outcome.state,
            format_duration(outcome.duration),
        )
        return outcome.state

    @property
    def status_says_how_it_went(self) -> bool:
        """Whether the job's message already says how it went (a digest's, or a status message
        posted finished), so no edit is left to make: derived from the job and its record."""
        return self.digest or self.record.steps.get(Step.STATUS) == StatusStep.FINAL

    def keep(self, outcome: Outcome) -> None:
        """Keep the outcome in the store for the retry, once per delivery."""
        if self.pending is not None:
            return
        self.pending = outcome
        _tolerant(
            lambda: self.runtime.records.keep_pending(self.job.id, outcome.to_json()),
            None,
            "the retry of job %s will run the report again",
            self.job.id,
        )

    def keep_for_retry(self) -> None:
        """Before a retry: the steps done, and the outcome when some of it is still to post."""
        _save(self.runtime, self.record)
        if self.outcome is not None and not self.record.done(Step.FILES):
            self.keep(self.outcome)

    def channel_unavailable(self, exc: ChannelUnavailable) -> JobState:
        record = self.record
        record.state, record.finished_at, record.error = JobState.FAILED, time.time(), exc.error
        _save(self.runtime, record)
        log.warning("job %s (%s) could not post: %s", self.job.id, self.job.report, exc.error)
        if self.digest:  # no retry fixes it, and the next run would fail the same way
            _schedule_care(
                lambda: self.runtime.self_pause.post_refused(self.job.schedule_id, exc.error), self.job
            )
        return JobState.FAILED

    def slack_refused(self, exc: SlackApiError) -> JobState:
        """Slack said no. A 429 or a 5xx is passing: raises for the task to retry, the steps done
        and the outcome kept. Any other error is final: no retry will help."""
        retry_after = _retry_after(exc)
        status = getattr(exc.response, "status_code", 200)
        if retry_after is None and status < 500:
            _save(self.runtime, self.record)
            error = str(exc.response.get("error", "")) or f"HTTP {status}"
            if self.digest and error in LOST_ACCESS_ERRORS:  # every later run would be refused too
                _schedule_care(
                    lambda: self.runtime.self_pause.post_refused(self.job.schedule_id, error), self.job
                )
            give_up(self.job, self.runtime, f"Slack refused a message of this job ({error})", self.record)
            return JobState.FAILED
        self.keep_for_retry()
        if retry_after is not None and exc.response.api_url.endswith("chat.postMessage"):
            self.runtime.pacing.refused()
        if retry_after is None:
            raise SlackUnavailable(f"Slack answered HTTP {status}") from exc
        raise RateLimited(retry_after) from exc


def give_up(job: Job, runtime: Runtime, reason: str, record: JobRecord | None = None) -> None:
    """End a job that cannot be finished, visibly: the record and the status message say it
    failed and why, the requester is told, and the log has the job id. Never raises."""
    log.error("job %s (%s) given up: %s", job.id, job.report, reason)
    reason = redact(reason, runtime.settings.secrets())  # it may quote a library's error
    try:
        record = record or _read_record(runtime, job)[0]
    except Exception:  # the store may be what failed
        record = JobRecord(job=job)
    record.state, record.finished_at, record.error = JobState.FAILED, time.time(), reason
    _save(runtime, record)
    text = f":warning: Job `{job.id}` ({escape_mrkdwn(job.report)}) could not be finished: {escape_mrkdwn(reason)}."
    try:
        if record.status_ts:
            runtime.poster.update_status(
                job, record.status_ts, status_message(job, JobState.FAILED, note=text)
            )
    except Exception as exc:
        log.warning("could not mark job %s failed in Slack: %s", job.id, exc)
    runtime.poster.tell_requester(job, text + " The details are in the worker's log.")
    digest_ended(runtime, job, JobState.FAILED)


def digest_ended(runtime: Runtime, job: Job, state: JobState) -> None:
    """A schedule's run is over: a success or a skip starts its failures in a row again from
    zero; a failure counts one more, and the schedule pauses itself at the limit
    (`tasks.schedules.self_pause`). Never raises: the job's own end is already recorded."""
    if not job.schedule_id or state == JobState.CANCELLED:
        return
    care = runtime.self_pause
    if state == JobState.FAILED:
        _schedule_care(lambda: care.run_failed(job.schedule_id), job)
    else:
        _schedule_care(lambda: care.run_succeeded(job.schedule_id), job)


def _schedule_care(call: Callable[[], object], job: Job) -> None:
    """One step of a schedule's upkeep after its run; a failure is logged, never raised."""
    try:
        call()
    except Exception as exc:  # Redis or Slack: the next run counts again
        log.warning(
            "job %s (%s): schedule %s not kept up to date: %s: %s",
            job.id,
            job.report,
            job.schedule_id,
            type(exc).__name__,
            exc,
        )


@dataclass(frozen=True)
class _Retry:
    """When a job that could not finish now is tried again, and why (the metrics' label)."""

    due: float
    reason: str
    jitter: float = 0.0


def _retry_for(exc: Exception, retries: int) -> _Retry:
    if isinstance(exc, Paced):  # the statuses' own times stagger these: no jitter needed
        return _Retry(exc.retry_after, "paced")
    if isinstance(exc, RateLimited):
        # Slack said when; a digest's jobs hit the limit staggered as they posted, so a quarter
        # second of jitter keeps their retries from arriving together.
        return _Retry(exc.retry_after, "ratelimited", jitter=random.uniform(0, 0.25))
    backoff = min(BACKOFF_MAX, 2.0**retries)
    if isinstance(exc, RunningElsewhere):  # its holder renews the lease: no hurry, no jitter
        return _Retry(backoff, "elsewhere")
    return _Retry(backoff * random.uniform(0.5, 1.0), type(exc).__name__)


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
        # a connection dropped, a retry that could not be queued): see JobRun.
        first = not self.request.retries and not (self.request.delivery_info or {}).get("redelivered", True)
        try:
            with run_lease(runtime.store, job.id):  # RabbitMQ may hand it over while a first copy runs
                outcome = run_job(job, runtime, time_limit=soft, first_delivery=first)
        except RunningElsewhere as exc:
            # Its holder renews the lease, so it is alive and ends the job itself; this copy only
            # covers its death (the lease then lapses), so it is never given up as failed.
            if self.request.retries >= MAX_RETRIES:
                log.warning(
                    "job %s (%s): this copy is dropped, another delivery still runs it", job.id, job.report
                )
                return "running elsewhere"
            return _retry_or_give_up(self, job, exc)
        except (RateLimited, SlackUnavailable, *TRANSIENT) as exc:
            return _retry_or_give_up(self, job, exc)
        observe_job(job.report, outcome, time.monotonic() - started)
        return outcome

    def _retry_or_give_up(task: Task, job: Job, exc: Exception) -> str:
        if task.request.retries >= MAX_RETRIES:
            # The error's kind for Slack; its text (a host, a URL) for the log only.
            log.error(
                "job %s (%s): its last retry failed too: %s: %s", job.id, job.report, type(exc).__name__, exc
            )
            give_up(job, runtime, f"it still failed after {MAX_RETRIES} retries ({type(exc).__name__})")
            observe_job(job.report, JobState.FAILED, None)
            return JobState.FAILED
        retry = _retry_for(exc, task.request.retries)
        countdown = retry_countdown(retry.due, runtime.settings.celery_queue_type, retry.jitter)
        level = (
            logging.INFO if retry.reason == "paced" else logging.WARNING
        )  # pacing is the plan, not a fault
        log.log(level, "job %s will be retried in %.1f s: %s", job.id, countdown, exc)
        JOB_RETRIES.labels(reason=retry.reason if retry.reason in ("ratelimited", "paced") else "error").inc()
        if retry.reason == "ratelimited":
            SLACK_RETRIES.labels(reason="ratelimited").inc()
        # Re-published now, and this delivery ends normally (`throw=False`, as Celery documents
        # it): raising Celery's Retry would make the worker copy each retry's traceback frame by
        # frame (billiard's ExceptionInfo), a cost every paced or rate-limited job would pay.
        # The task then counts as succeeded in Celery's eyes; the job's record says it still runs.
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
                "job %s (%s): its retry could not be queued (%s); handing it back",
                job.id,
                job.report,
                refused.reason,
            )
            time.sleep(REQUEUE_PAUSE)
            raise Reject(refused.reason, requeue=True) from None
        return f"retry in {countdown:.1f} s"
