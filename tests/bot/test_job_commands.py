"""`status`, `history` and `cancel` as the person typing them sees the answers.

The real command handler and job control against the real Redis (a key prefix of this test's
own) and RabbitMQ; Slack is the fake. Records are written as the worker writes them
(`JobRecords.save`), so each test sets up exactly the job state it is about.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import grammar, replies
from bot.commands import CommandHandler, answer
from bot.job_control import JobControl
from bot.publish import Publisher
from tasks.jobs.records import Job, JobRecord, JobRecords, JobState, new_job_id
from tasks.reports import Registry, Report, load_reports
from tasks.settings import Settings
from tasks.slack.posting import Poster
from tasks.slack.web_api import WebApi
from tasks.store import RedisStore, Store
from tests.support import BOT_TOKEN, BROKER_URL, REDIS_PREFIX, REDIS_URL, TEST_REPORTS, free_port

PRIVATE, ELSEWHERE = "C0PRIVATE", "C0ELSEWHERE"
ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"


class ClickableHandler(CommandHandler):
    """The command handler with the job control that answers its buttons, for the button tests."""

    control: JobControl


def make_handler(
    slack: Any, store: Store, api_url: str = "", registry: Registry | None = None
) -> ClickableHandler:
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=api_url or slack.api_url,
        celery_broker_url=BROKER_URL,
        report_modules=tuple(TEST_REPORTS.split(",")),
        admin_users=(ADMIN,),
    )
    handler = ClickableHandler(
        settings, registry or load_reports(settings.report_modules), Publisher(settings), JobRecords(store)
    )
    control = JobControl(
        settings,
        handler,
        Poster(WebApi(WebClient(token=BOT_TOKEN, base_url=slack.api_url))),
        handler.publisher.app,
    )
    handler.register(grammar.Cancel, control.on_cancel_command)
    handler.control = control
    return handler


@pytest.fixture
def store(services) -> Store:
    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex}:")


def say(handler: CommandHandler, text: str, channel: str, user: str) -> Any:
    return handler.handle(
        {"text": text, "channel_id": channel, "user_id": user, "team_id": "T0TEST", "response_url": ""}
    )


def saved(store: Store, state: str, status_ts: str = "", schedule_id: str = "") -> JobRecord:
    """A job ALICE ran in the private channel, recorded as the worker records it."""
    job = Job(
        id=new_job_id(),
        report="echo",
        args={"text": "secret plans"},
        channel=PRIVATE,
        user=ALICE,
        schedule_id=schedule_id,
    )
    record = JobRecord(job=job, state=JobState(state), status_ts=status_ts)
    JobRecords(store).save(record)
    return record


@pytest.mark.parametrize("state", ["queued", "running", "succeeded", "failed", "cancelled"])
def test_cancel_from_another_channel_reveals_nothing_that_status_would_not(slack, store, state) -> None:
    handler = make_handler(slack, store)
    record = saved(store, state)
    if state == "cancelled":
        assert JobRecords(store).cancel(record, ADMIN)
    job_id = record.job.id

    refusal = say(handler, f"cancel {job_id}", ELSEWHERE, BOB)
    status = say(handler, f"status {job_id}", ELSEWHERE, BOB)
    unknown = say(handler, "status 0badf00d", ELSEWHERE, BOB)

    assert refusal.outcome == "refused"
    assert refusal.text == status.text == unknown.text.replace("0badf00d", job_id)
    assert f"There is no job `{job_id}` in this channel" in refusal.text
    for leak in (ALICE, ADMIN, state, "echo", "secret"):
        assert leak not in refusal.text
    kept = JobRecords(store).get(job_id)
    assert kept is not None
    assert kept.state == state, "a refused cancel changes nothing"


def test_in_its_channel_a_job_is_cancelled_only_by_its_requester_or_an_admin(slack, store) -> None:
    handler = make_handler(slack, store)
    job_id = saved(store, "running").job.id

    refusal = say(handler, f"cancel {job_id}", PRIVATE, BOB)
    assert refusal.outcome == "refused" and f"Only <@{ALICE}>, who ran job `{job_id}`" in refusal.text
    # The requester may cancel from anywhere, as they may ask its status from anywhere.
    done = say(handler, f"cancel {job_id}", ELSEWHERE, ALICE)
    assert done.outcome == "cancelled" and f"Cancelled job `{job_id}`" in done.text
    cancelled = JobRecords(store).get(job_id)
    assert cancelled is not None
    assert cancelled.cancelled_by == ALICE


def test_the_cancel_button_follows_the_same_rule_as_the_command(slack, store) -> None:
    handler = make_handler(slack, store)
    job_id = saved(store, "succeeded").job.id
    control = handler.control
    elsewhere = answer(lambda: control.cancel(job_id, BOB, ELSEWHERE))
    assert elsewhere.outcome == "refused" and f"There is no job `{job_id}` in this channel" in elsewhere.text
    here = answer(lambda: control.cancel(job_id, BOB, PRIVATE))
    assert "has already succeeded" in here.text


def test_status_links_the_thread_on_the_workspaces_own_slack(slack, store) -> None:
    job_id = saved(store, "succeeded", status_ts="1700000000.123456").job.id
    sandbox = say(make_handler(slack, store), f"status {job_id}", PRIVATE, ALICE).text
    assert f"<{slack.base_url}archives/{PRIVATE}/p1700000000123456|thread>" in sandbox
    gov = say(
        make_handler(slack, store, api_url="https://slack-gov.com/api/"), f"status {job_id}", PRIVATE, ALICE
    )
    assert f"<https://slack-gov.com/archives/{PRIVATE}/p1700000000123456|thread>" in gov.text
    digest = saved(store, "succeeded", status_ts="1700000000.654321", schedule_id="s-morning").job.id
    shown = say(make_handler(slack, store), f"status {digest}", PRIVATE, ALICE).text
    assert f"<{slack.base_url}archives/{PRIVATE}/p1700000000654321|message>" in shown, (
        "a digest has no thread"
    )


@pytest.mark.unit
def test_with_redis_down_every_job_command_gives_the_same_clear_answer(slack) -> None:
    from bot.schedule_commands import install_schedule_commands

    down = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    handler = make_handler(slack, down)
    install_schedule_commands(handler, handler.settings)
    control = handler.control
    answers = [
        say(handler, "schedule list", PRIVATE, ALICE),
        say(handler, "schedule add ping every 1h tz=UTC", PRIVATE, ADMIN),
        say(handler, "schedule remove s-0badf0", PRIVATE, ADMIN),
        say(handler, "status 0badf00d", PRIVATE, ALICE),
        say(handler, "history", PRIVATE, ALICE),
        say(handler, "cancel 0badf00d", PRIVATE, ALICE),
        answer(lambda: control.cancel("0badf00d", ALICE, PRIVATE)),
        answer(lambda: control.run_again("0badf00d", ALICE, PRIVATE, team="T0TEST")),
    ]
    for reply in answers:
        assert (reply.text, reply.outcome) == (replies.store_down(), "error")
    assert "Job records are unavailable" in replies.store_down() and "try again" in replies.store_down()


def test_a_failed_group_lookup_is_a_refusal_and_nothing_is_queued(slack, store) -> None:
    registry = Registry()
    registry.add(Report.from_function(lambda: "42", name="finance", groups=("S0FIN",)))
    handler = make_handler(slack, store, registry=registry)
    slack.fail("usergroups.users.list", "internal_error", times=5)
    reply = say(handler, "finance", PRIVATE, ALICE)
    assert reply.outcome == "refused", reply.text
    assert "try again" in reply.text and "Queued" not in reply.text
    assert JobRecords(store).history(PRIVATE) == []


def test_status_history_and_cancel_right_after_the_ack_know_the_job_just_queued(slack, store) -> None:
    """The bot writes a queued job's record after the ack, from a thread of its own: a person
    who types `status`, `history` or `cancel` at once must still find the job."""
    handler = make_handler(slack, store)
    for n in range(10):
        queued = say(handler, f"echo text=quick{n}", PRIVATE, ALICE)
        assert queued.outcome == "queued", queued.text
        job_id = queued.text.split("job `")[1].split("`")[0]
        status = say(handler, f"status {job_id}", PRIVATE, ALICE).text
        assert "There is no job" not in status and job_id in status, status
    newest = say(handler, "echo text=last", PRIVATE, ALICE).text.split("job `")[1].split("`")[0]
    assert newest in say(handler, "history", PRIVATE, ALICE).text
    last = say(handler, "echo text=cancel-me", PRIVATE, ALICE).text.split("job `")[1].split("`")[0]
    assert f"Cancelled job `{last}`" in say(handler, f"cancel {last}", PRIVATE, ALICE).text


def test_run_again_and_the_cancel_button_right_after_the_ack_know_the_job_just_queued(slack, store) -> None:
    """A quick job's status message, with its buttons, can be up within milliseconds of the ack:
    a click that comes at once must find the job, whose record this bot may not have written yet."""
    handler = make_handler(slack, store)
    control = handler.control
    first = say(handler, 'echo text="once more"', PRIVATE, ALICE).text.split("job `")[1].split("`")[0]
    again = answer(lambda: control.run_again(first, BOB, PRIVATE, team="T0TEST", trigger_id="t-again"))
    assert again.outcome == "queued" and 'text="once more"' in again.text, again.text
    second = again.text.split("job `")[1].split("`")[0]
    cancelled = answer(lambda: control.cancel(second, BOB, PRIVATE))
    assert f"Cancelled job `{second}`" in cancelled.text, cancelled.text


# ------------------------------------------------------------------ Run again: who clicks where


def click_run_again(handler: ClickableHandler, job_id: str, user: str, channel: str) -> Any:
    control = handler.control
    return answer(
        lambda: control.run_again(job_id, user, channel, team="T0TEST", trigger_id=f"t-{uuid.uuid4().hex}")
    )


def test_run_again_from_another_channel_says_what_an_unknown_id_gets_and_queues_nothing(slack, store) -> None:
    handler = make_handler(slack, store)
    job_id = saved(store, "succeeded").job.id

    refusal = click_run_again(handler, job_id, BOB, ELSEWHERE)
    unknown = click_run_again(handler, "0badf00d", BOB, ELSEWHERE)
    status = say(handler, f"status {job_id}", ELSEWHERE, BOB)

    assert refusal.outcome == unknown.outcome == "refused"
    assert refusal.text == unknown.text.replace("0badf00d", job_id) == status.text
    for leak in (ALICE, "echo", "secret", "retention period, so"):
        assert leak not in refusal.text
    handler.settle_records()
    nothing: list[JobRecord] = []
    assert JobRecords(store).history(ELSEWHERE) == JobRecords(store).history(PRIVATE) == nothing


def test_run_again_runs_in_the_channel_clicked_with_that_channels_access_check(slack, store) -> None:
    registry = load_reports(tuple(TEST_REPORTS.split(",")))
    registry.add(Report.from_function(lambda: "42", name="ledger", channels=(PRIVATE,)))
    handler = make_handler(slack, store, registry=registry)
    ledger = Job(id=new_job_id(), report="ledger", args={}, channel=PRIVATE, user=ALICE)
    JobRecords(store).save(JobRecord(job=ledger, state=JobState.SUCCEEDED))

    # Its owner may see it from anywhere, but the report may not run outside its channel.
    outside = click_run_again(handler, ledger.id, ALICE, ELSEWHERE)
    assert outside.outcome == "refused" and "You cannot run `ledger` here" in outside.text, outside.text
    inside = click_run_again(handler, ledger.id, ALICE, PRIVATE)
    assert inside.outcome == "queued", inside.text
    # An echo job re-run from the owner's other channel is queued there, for the clicker.
    echo = saved(store, "succeeded").job.id
    moved = click_run_again(handler, echo, ALICE, ELSEWHERE)
    assert moved.outcome == "queued", moved.text
    handler.settle_records()
    (again,) = JobRecords(store).history(ELSEWHERE)
    assert (again.job.report, again.job.args, again.job.user) == ("echo", {"text": "secret plans"}, ALICE)


@pytest.mark.parametrize("who", ["run_again", "cancel"])
def test_a_click_without_a_user_or_channel_sees_no_job(slack, store, who) -> None:
    """A job whose record lacks its user (or channel) must not match an empty id in a request."""
    handler = make_handler(slack, store)
    control = handler.control
    nobody = Job(id=new_job_id(), report="echo", args={"text": "secret plans"}, channel="", user="")
    JobRecords(store).save(JobRecord(job=nobody, state=JobState.RUNNING))
    work = {
        "run_again": lambda: control.run_again(nobody.id, "", "", team="T0TEST"),
        "cancel": lambda: control.cancel(nobody.id, "", ""),
    }[who]
    reply = answer(work)
    assert reply.outcome == "refused" and f"There is no job `{nobody.id}`" in reply.text, reply.text
    kept = JobRecords(store).get(nobody.id)
    assert kept is not None
    assert kept.state == "running"
