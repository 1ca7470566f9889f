"""A job: one run of one report for one person in one channel, and its record.

The job is what travels through RabbitMQ (JSON, no secrets: the worker reads tokens from its own
settings). The record is what `status` and `history` read back from the store; it is written
by whoever moves the job on (the bot when queued, the worker when running and finished).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from tasks.jobs.in_flight import JobsInFlight, counted_key
from tasks.store import ClaimAndPush, Indexed, Store, StoreUnavailable


class JobState(StrEnum):
    """Where a job stands. The values are what the store's records and the bot's JSON hold, so a
    member compares equal to its string and records written before stay readable."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The report said it had nothing to say (`tasks.reports.Skip`): over, neither a success to
    # show nor a failure to count. Its own state, so `status`, `history` and the metrics tell
    # "nothing new" apart from "posted", and a schedule's failures in a row are reset by it.
    SKIPPED = "skipped"


class Step(StrEnum):
    """A step of a job that its record says is done (`JobRecord.steps`), so a redelivered or
    retried job does not post it twice. The values are the keys of the record's JSON."""

    STATUS = "status"  # the status message posted already saying how it went: `StatusStep`
    RESULT = "result"  # the result posted in the thread: the outcome's `JobState`
    FILES = "files"  # the result's files dealt with: `FilesStep`


class StatusStep(StrEnum):
    """How the status message was posted (`Step.STATUS`)."""

    FINAL = "final"  # once, after the report, already saying how it went: no edit is left to make


class FilesStep(StrEnum):
    """What became of the result's files (`Step.FILES`)."""

    NONE = "none"  # the result had none
    UPLOADED = "uploaded"
    FAILED = "failed"  # Slack refused them; the result's thread says so


# What each step's value is, for reading a record back from its JSON.
_STEP_VALUES: dict[Step, type[StrEnum]] = {
    Step.STATUS: StatusStep,
    Step.RESULT: JobState,
    Step.FILES: FilesStep,
}


# A job in one of these is over: nothing moves it on again.
FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})
HISTORY_LENGTH = 50
USER_JOBS_LENGTH = 20  # a person's recent jobs, newest first: what the App Home lists
PENDING_TTL = 6 * 3600  # a rate-limited result waits for its retry at most this long
# The jobs a worker has started and not finished, by their `deadline`: what beat closes when no
# worker is left to (`tasks.worker.lost_jobs.close_overdue`).
RUNNING_INDEX = "jobs:running"
# The people one of whose jobs ended, by when: their App Home is out of date until beat publishes
# it again (`tasks.schedules.home_refresh`). Kept in the final save's round trip, so a job's end
# costs no extra call to Redis, and the worker never waits for Slack on anyone's Home.
HOME_STALE_INDEX = "home:stale"


def new_job_id() -> str:
    """Eight hex digits: short enough to type in `status <id>`, random enough per workspace."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Job:
    """What a worker needs to run a report and post where the person asked."""

    id: str
    report: str
    args: dict[str, str]
    channel: str
    user: str
    requested_at: float = field(default_factory=time.time)
    team: str = ""
    response_url: str = ""
    schedule_id: str = ""

    def to_message(self) -> dict[str, Any]:
        message = {name: getattr(self, name) for name in self.__dataclass_fields__}
        message["args"] = dict(self.args)
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Job:
        known = {k: message[k] for k in cls.__dataclass_fields__ if k in message}
        known["args"] = {str(k): str(v) for k, v in dict(known.get("args") or {}).items()}
        return cls(**known)


class Cancel(NamedTuple):
    """Who cancelled a job, and when (time.time() on the bot that took the cancel)."""

    by: str
    at: float


@dataclass
class JobRecord:
    """The job's story so far, as `status` and `history` show it."""

    job: Job
    state: JobState = JobState.QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    status_ts: str = ""
    error: str = ""
    cancelled_by: str = ""
    # Steps already done (`Step`), so a job that is redelivered or retried does not post them
    # twice. The status message itself is `status_ts`.
    steps: dict[Step, StrEnum] = field(default_factory=dict)
    # How long the report ran, kept with its outcome (`steps[Step.RESULT]`) so a job resumed after
    # its result was posted finishes its status message without running the report again.
    duration: float | None = None
    # When a started job must have ended (time.time()): its delivery's start, its hard time
    # limit and a grace. Still unfinished then, no worker is left to end it, and beat does.
    deadline: float | None = None

    def done(self, step: Step) -> bool:
        """Whether `step` is done: a redelivered or retried job skips it."""
        return step in self.steps

    def mark_cancelled(self, cancel: Cancel) -> None:
        self.state, self.cancelled_by = JobState.CANCELLED, cancel.by
        self.finished_at = self.finished_at or cancel.at

    def to_json(self) -> str:
        # By hand rather than dataclasses.asdict, which deep-copies every field on every save.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["job"] = self.job.to_message()
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> JobRecord:
        data = json.loads(raw)
        data["job"] = Job.from_message(data["job"])
        data["state"] = JobState(data.get("state", JobState.QUEUED))
        data["steps"] = _steps_of(data.get("steps") or {})
        # Fields this version does not know (written by a newer one, mid-deploy) are left out.
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _steps_of(raw: dict[str, str]) -> dict[Step, StrEnum]:
    """A record's steps read back from its JSON. A step or value this version does not know
    (written by a newer one, mid-deploy) is left out, as unknown fields are."""
    steps: dict[Step, StrEnum] = {}
    for key, value in raw.items():
        with suppress(ValueError):
            step = Step(key)
            steps[step] = _STEP_VALUES[step](value)
    return steps


class JobRecords:
    """Job records in the store, kept `retention_days` and listed per channel, newest first."""

    def __init__(self, store: Store, retention_days: int = 30) -> None:
        self.store = store
        self.ttl = retention_days * 86400
        self.in_flight = JobsInFlight(store)  # a cancelled job no longer counts

    def save(self, record: JobRecord) -> None:
        self.store.set(f"job:{record.job.id}", record.to_json(), ttl=self.ttl, index=_indexes(record))

    def created(self, job: Job) -> JobRecord:
        """Record a newly queued job and list it in its channel's history.

        Written after the ack, so a quick worker may already have recorded the job as running
        (or finished): set-if-absent, so "queued" never overwrites a later state.
        """
        record = JobRecord(job=job)
        if not self.store.claim_and_push_many(self._queued_entries(record))[0]:
            record = self.get(job.id) or record
        return record

    def created_many(self, jobs: Sequence[Job]) -> None:
        """`created` for several jobs in one round trip (the bot's records of a burst)."""
        self.store.claim_and_push_many([e for job in jobs for e in self._queued_entries(JobRecord(job=job))])

    def _queued_entries(self, record: JobRecord) -> list[ClaimAndPush]:
        """The record's claim with its place in the channel's history, and the same claim again
        (already held, so a no-op) with its place in its requester's recent jobs (the App Home)."""
        job = record.job
        key, value = f"job:{job.id}", record.to_json()
        entries = [ClaimAndPush(key, value, self.ttl, f"channel:{job.channel}:jobs", job.id, HISTORY_LENGTH)]
        if job.user:
            entries.append(ClaimAndPush(key, value, self.ttl, _user_jobs(job.user), job.id, USER_JOBS_LENGTH))
        return entries

    def get(self, job_id: str) -> JobRecord | None:
        """The record with any cancel applied: the record and its marker in one round trip."""
        return self._parse(*self.store.get_many([f"job:{job_id}", f"job:{job_id}:cancelled"]))

    def _parse(self, raw: str | None, marker: str | None) -> JobRecord | None:
        if not raw:
            return None
        record = JobRecord.from_json(raw)
        if marker and record.state != JobState.CANCELLED:
            _apply_cancel(record, marker)
        return record

    def load_for_run(self, job: Job) -> tuple[JobRecord, str | None]:
        """What a worker needs before it runs a job, in one round trip: the record (or a new one)
        and the result a previous attempt rendered but could not post yet (see `keep_pending`)."""
        keys = [f"job:{job.id}", f"job:{job.id}:cancelled", f"job:{job.id}:pending"]
        raw, marker, pending = self.store.get_many(keys)
        return self._parse(raw, marker) or JobRecord(job=job), pending

    def read_after_run(self, job: Job) -> tuple[JobRecord | None, Cancel | None]:
        """What a job's first delivery reads once its report has run, before it posts anything,
        in one round trip: its record as saved (no cancel applied: the bot's "queued" one, or
        one a copy of the job published twice has written) and the cancel, if there was one."""
        raw, marker = self.store.get_many([f"job:{job.id}", f"job:{job.id}:cancelled"])
        return (JobRecord.from_json(raw) if raw else None), (_cancel_of(marker) if marker else None)

    def keep_pending(self, job_id: str, payload: str) -> None:
        """Keep a rendered result that Slack's rate limit stopped, for the job's retry."""
        self.store.set(f"job:{job_id}:pending", payload, ttl=PENDING_TTL)

    def drop_pending(self, job_id: str) -> None:
        self.store.delete(f"job:{job_id}:pending")

    def cancelled_by(self, job_id: str) -> str | None:
        """Who cancelled the job (possibly ""), or None when it was not cancelled: one read,
        for the worker's check between running a report and posting its result."""
        return _canceller(self.store.get(f"job:{job_id}:cancelled"))

    def save_then_cancelled_by(self, record: JobRecord) -> str | None:
        """`save`, then `cancelled_by`, in one round trip: a quick report's job, once its status
        message is up, before its result goes in the thread."""
        job_id = record.job.id
        key, cancelled = f"job:{job_id}", f"job:{job_id}:cancelled"
        return _canceller(
            self.store.set_then_get(key, record.to_json(), self.ttl, cancelled, _indexes(record))
        )

    def mark_home_stale(self, user: str) -> None:
        """List `user` for beat to republish their App Home, for a change the worker makes
        outside a job's final save (a schedule it paused): the worker cannot import the Home,
        which lives with the schedules. One round trip: a short-lived marker, and the index."""
        if user:
            now = time.time()
            entry = Indexed(HOME_STALE_INDEX, user, now)
            self.store.set(f"home:stale:{user}", str(now), ttl=60, index=[entry])

    def overdue(self, now: float, count: int) -> list[str]:
        """Ids of up to `count` started jobs whose deadline has passed without their ending."""
        return self.store.due(RUNNING_INDEX, now, count)

    def forget_running(self, job_id: str) -> None:
        """Take a job out of the running index (it ended, or its record is gone)."""
        self.store.unindex(RUNNING_INDEX, job_id)

    def cancel(self, record: JobRecord, by: str) -> bool:
        """Mark a job cancelled by `by`; False when it already was (the first cancel wins).

        The marker is a key of its own, set-if-absent: a worker's read-modify-write of the
        record racing with this cannot lose it, and every later `get` reports the job cancelled.
        """
        now = time.time()
        marker = json.dumps({"by": by, "at": now})
        key = f"job:{record.job.id}:cancelled"
        if not self.store.claim(key, marker, ttl=self.ttl):
            earlier = self.store.get(key)  # the cancel that won: its author is the one to name
            if earlier:
                _apply_cancel(record, earlier)
            return False
        # Only the caller's copy: saving it would overwrite what the worker wrote since it was
        # read (the status message's ts), and every read applies the marker anyway.
        _apply_cancel(record, marker)
        # The cancel has taken: a count left behind expires on its own, and must not turn a done
        # cancel into "Redis is down" with no revoke sent.
        with suppress(StoreUnavailable):
            self.in_flight.done(record.job)
        return True

    def history(self, channel: str, count: int = 10) -> list[JobRecord]:
        """The channel's newest jobs, read in one round trip after the list itself."""
        return self._listed(f"channel:{channel}:jobs", count)

    def recent_for_user(self, user: str, count: int = 10) -> list[JobRecord]:
        """`user`'s newest jobs (asked for, or run by their schedules), for their App Home."""
        return self._listed(_user_jobs(user), count)

    def _listed(self, list_key: str, count: int) -> list[JobRecord]:
        return self.get_many(self.store.items(list_key, count))

    def get_many(self, ids: Sequence[str]) -> list[JobRecord]:
        """The records of `ids` that exist, cancels applied, in one round trip."""
        if not ids:
            return []
        values = self.store.get_many([key for i in ids for key in (f"job:{i}", f"job:{i}:cancelled")])
        records = (self._parse(values[n], values[n + 1]) for n in range(0, len(values), 2))
        return [r for r in records if r is not None]


def _user_jobs(user: str) -> str:
    return f"user:{user}:jobs"


def _indexes(record: JobRecord) -> list[Indexed]:
    """The sorted indexes that saving `record` updates, in the save's round trip: the running
    index (in by its deadline while it is started and unfinished, out once it has ended; the
    bot's "queued" records stay out), and, once it has ended, its person's jobs in flight."""
    job_id = record.job.id
    if record.state in FINAL_STATES:
        ended = [Indexed(RUNNING_INDEX, job_id, None), Indexed(counted_key(record.job.user), job_id, None)]
        if record.job.user:  # their App Home lists this job: it is stale until beat republishes it
            ended.append(Indexed(HOME_STALE_INDEX, record.job.user, record.finished_at or time.time()))
        return ended
    if record.deadline is not None:
        return [Indexed(RUNNING_INDEX, job_id, record.deadline)]
    return []


def _cancel_of(marker: str) -> Cancel:
    data = json.loads(marker)
    return Cancel(by=str(data.get("by", "")), at=float(data.get("at") or time.time()))


def _canceller(marker: str | None) -> str | None:
    return _cancel_of(marker).by if marker else None


def _apply_cancel(record: JobRecord, marker: str) -> None:
    record.mark_cancelled(_cancel_of(marker))
