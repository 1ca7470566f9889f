"""A job: one run of one report for one person in one channel, and its record.

The job is what travels through RabbitMQ (JSON, no secrets: the worker reads tokens from its own
settings). The record is what `status` and `history` read back from the store; it is written
by whoever moves the job on (the bot when queued, the worker when running and finished).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.store import Store

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")
HISTORY_LENGTH = 50


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
        return asdict(self)

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Job:
        known = {k: message[k] for k in cls.__dataclass_fields__ if k in message}
        known["args"] = {str(k): str(v) for k, v in dict(known.get("args") or {}).items()}
        return cls(**known)


@dataclass
class JobRecord:
    """The job's story so far, as `status` and `history` show it."""

    job: Job
    state: str = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    status_ts: str = ""
    error: str = ""
    cancelled_by: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> JobRecord:
        data = json.loads(raw)
        data["job"] = Job.from_message(data["job"])
        return cls(**data)


class JobRecords:
    """Job records in the store, kept `retention_days` and listed per channel, newest first."""

    def __init__(self, store: Store, retention_days: int = 30) -> None:
        self.store = store
        self.ttl = retention_days * 86400

    def save(self, record: JobRecord) -> None:
        self.store.set(f"job:{record.job.id}", record.to_json(), ttl=self.ttl)

    def created(self, job: Job) -> JobRecord:
        """Record a newly queued job and list it in its channel's history."""
        record = JobRecord(job=job)
        self.save(record)
        self.store.push_capped(f"channel:{job.channel}:jobs", job.id, HISTORY_LENGTH)
        return record

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.store.get(f"job:{job_id}")
        return JobRecord.from_json(raw) if raw else None

    def get_or_new(self, job: Job) -> JobRecord:
        return self.get(job.id) or JobRecord(job=job)

    def update(self, job: Job, **changes: Any) -> JobRecord:
        record = self.get_or_new(job)
        for key, value in changes.items():
            setattr(record, key, value)
        self.save(record)
        return record

    def history(self, channel: str, count: int = 10) -> list[JobRecord]:
        ids = self.store.items(f"channel:{channel}:jobs", count)
        return [r for r in (self.get(i) for i in ids) if r is not None]
