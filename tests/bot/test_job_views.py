"""`status` and `history` (`bot.job_views`): a job's story as its record tells it."""

from __future__ import annotations

import pytest

from bot.job_views import describe, history_text, status_text, thread_link, visible, web_url
from tasks.errors import UserError
from tasks.jobs.records import Job, JobRecord, JobRecords, JobState
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit

COMMAND = "/run-report"
WEB = "https://acme.slack.com/"
REQUESTED = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC


def job(id: str = "3f9c2a71", channel: str = "C0GEN", user: str = "U0ALICE", **extra: str) -> Job:
    return Job(
        id=id,
        report="sales",
        args={"region": "emea"},
        channel=channel,
        user=user,
        requested_at=REQUESTED,
        **extra,
    )


def test_slacks_web_address_is_the_api_address_without_api() -> None:
    assert web_url("https://slack.com/api/") == "https://slack.com/"
    assert web_url("https://slack-gov.com/api") == "https://slack-gov.com/"
    assert web_url("http://127.0.0.1:3000/api/") == "http://127.0.0.1:3000/"


def test_a_finished_job_tells_what_who_when_how_long_and_where() -> None:
    record = JobRecord(
        job=job(),
        state=JobState.SUCCEEDED,
        started_at=REQUESTED + 1,
        finished_at=REQUESTED + 3.5,
        status_ts="1767261601.000200",
    )
    assert describe(record, WEB).split(" · ") == [
        ":white_check_mark: `3f9c2a71` *sales* `region=emea`: *succeeded*",
        "by <@U0ALICE>",
        "<!date^1767261600^{date_short_pretty} {time_secs}|2026-01-01 10:00:00 UTC>",
        "ran 2.5 s",
        "<https://acme.slack.com/archives/C0GEN/p1767261601000200|thread>",
    ]


def test_a_jobs_run_time_is_the_one_its_worker_measured_not_its_timestamps() -> None:
    record = JobRecord(
        job=job(),
        state=JobState.SUCCEEDED,
        started_at=REQUESTED + 1,
        finished_at=REQUESTED + 3.5,
        duration=0.007,
    )
    assert "ran 7 ms" in describe(record, WEB).split(" · ")


def test_a_cancelled_job_says_who_cancelled_it_and_a_queued_one_has_no_run_time_or_link() -> None:
    cancelled = JobRecord(job=job(), state=JobState.CANCELLED, cancelled_by="U0BOB")
    assert describe(cancelled, WEB).endswith(" · cancelled by <@U0BOB>")
    queued = describe(JobRecord(job=job()), WEB)
    assert queued.startswith(":inbox_tray: `3f9c2a71` *sales* `region=emea`: *queued*")
    assert "ran " not in queued and "archives" not in queued


def test_a_scheduled_jobs_link_is_to_its_one_message() -> None:
    record = JobRecord(job=job(schedule_id="s-morning"), state=JobState.SUCCEEDED, status_ts="1.2")
    assert thread_link(record, WEB) == "<https://acme.slack.com/archives/C0GEN/p12|message>"


def test_a_job_is_visible_in_its_channel_to_its_requester_and_to_admins_only() -> None:
    record = JobRecord(job=job())
    assert visible(record, "C0GEN", "U0ANY")
    assert visible(record, "C0OTHER", "U0ALICE")
    assert visible(record, "C0OTHER", "U0ADMIN", admins=("U0ADMIN",))
    assert not visible(record, "C0OTHER", "U0MALLORY")
    assert not visible(record, "", "")
    assert not visible(None, "C0GEN", "U0ALICE")


def test_status_of_a_job_one_may_not_see_reads_as_an_unknown_id() -> None:
    records = JobRecords(MemoryStore())
    records.created(job())
    shown = status_text(records, "3f9c2a71", COMMAND, channel="C0GEN", user="U0BOB", web=WEB)
    assert shown.startswith(":inbox_tray: `3f9c2a71` *sales* `region=emea`: *queued*")
    answers = []
    for job_id, channel in (("3f9c2a71", "C0OTHER"), ("deadbeef", "C0GEN")):
        with pytest.raises(UserError) as refused:
            status_text(records, job_id, COMMAND, channel=channel, user="U0MALLORY", web=WEB)
        answers.append(refused.value.message.replace(job_id, "<id>"))
    assert (
        answers[0]
        == answers[1]
        == (
            "There is no job `<id>` in this channel (or it is older than the retention period). "
            "`/run-report history` lists this channel's recent jobs."
        )
    )


def test_history_lists_the_channels_jobs_newest_first_or_says_there_are_none() -> None:
    records = JobRecords(MemoryStore())
    assert (
        history_text(records, "C0GEN", COMMAND, WEB)
        == "No jobs have run in this channel yet. Try `/run-report ping`."
    )
    for n in range(3):
        records.created(job(id=f"0000000{n}"))
    lines = history_text(records, "C0GEN", COMMAND, WEB).splitlines()
    assert lines[0] == "*Recent jobs in this channel* (3):"
    assert [line.split("`")[1] for line in lines[1:]] == ["00000002", "00000001", "00000000"]


def test_a_long_history_fits_one_message_and_counts_what_was_left_out() -> None:
    records = JobRecords(MemoryStore())
    for n in range(40):
        records.created(
            Job(id=f"{n:08}", report="sales", args={"note": "x" * 200}, channel="C0GEN", user="U0ALICE")
        )
    text = history_text(records, "C0GEN", COMMAND, WEB, count=40)
    assert len(text) <= 4000
    assert text.splitlines()[-1].endswith("older jobs that did not fit in one message.")
