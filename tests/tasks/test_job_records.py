"""A job record's steps: enum members in the worker, the same JSON strings in the store, so a
record written before reads back the same and one written now is what an older worker reads."""

from __future__ import annotations

import json

import pytest

from tasks.jobs.records import FilesStep, Job, JobRecord, JobState, StatusStep, Step

pytestmark = pytest.mark.unit


def record_with(steps: dict[str, str]) -> str:
    job = Job(id="0a1b2c3d", report="sales", args={}, channel="C0SALES", user="U0ALICE", requested_at=1.0)
    data = json.loads(JobRecord(job=job).to_json())
    data["steps"] = steps
    return json.dumps(data)


def test_a_stored_records_steps_read_back_as_members_and_write_the_same_json() -> None:
    raw = record_with({"status": "final", "result": "failed", "files": "uploaded"})
    record = JobRecord.from_json(raw)
    assert record.steps == {
        Step.STATUS: StatusStep.FINAL,
        Step.RESULT: JobState.FAILED,
        Step.FILES: FilesStep.UPLOADED,
    }
    assert all(type(value) is not str for value in record.steps.values())
    assert record.done(Step.RESULT) and record.to_json() == raw


def test_steps_this_version_does_not_know_are_left_out() -> None:
    record = JobRecord.from_json(record_with({"result": "succeeded", "files": "later", "checked": "yes"}))
    assert record.steps == {Step.RESULT: JobState.SUCCEEDED}
    assert not record.done(Step.FILES)


def test_a_record_without_steps_has_none_done() -> None:
    record = JobRecord.from_json(record_with({}))
    assert record.steps == {} and not any(record.done(step) for step in Step)
