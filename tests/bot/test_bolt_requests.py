"""Slack's requests dispatched in process into the real Bolt app, with its real collaborators.

`bot.app.build_app` with the handler it builds from settings (the reports, the fail-fast
publisher, the job records), wrapped by `bot.http.make_wsgi`: each request is signed as Slack
signs it and handed to the WSGI app in this process, so a failure points at the bot's code, not
at a process or a port. The broker is this session's virtual host on the real RabbitMQ and the
records are in the real Redis; Slack's side (the clicker's private answer, through the
interaction's response_url) is the fake. What the HTTP boundary refuses (signatures, sizes,
malformed bodies) is tests/bot/test_http_boundary.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from bot.app import build_app
from bot.http import make_wsgi
from tasks.jobs.records import JobRecord, JobRecords
from tasks.rendering.messages import CANCEL_ACTION
from tasks.store import make_store
from tests.signed_requests import Answer, call, click_form, command_form, signed
from tests.support import (
    SIGNING_SECRET,
    bolt_settings,
    wait_until,
)

CHANNEL, ALICE = "C0BOLT", "U0ALICE"
QUEUED = re.compile(r"^:inbox_tray: Queued \*slow\* `seconds=30` as job `(?P<id>[0-9a-f]+)`\. ")


class Bot:
    """The bot's WSGI app, and the job records it writes."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], records: JobRecords, slack: Any) -> None:
        self.wsgi, self.records, self.slack = wsgi, records, slack

    def response_url(self) -> str:
        """A response_url the fake Slack answers, as Slack gives one with each request."""
        minted = self.slack.workspace.mint_response_url(CHANNEL, ALICE)
        return f"{self.slack.base_url}response/{minted.id}"

    def command(self, text: str) -> Answer:
        body = command_form(text, channel_id=CHANNEL, user_id=ALICE, response_url=self.response_url())
        return call(self.wsgi, body, signed(body))

    def click(self, action_id: str, value: str) -> Answer:
        body = click_form(action_id, value, user=ALICE, channel=CHANNEL, response_url=self.response_url())
        return call(self.wsgi, body, signed(body))

    def record(self, job_id: str) -> JobRecord | None:
        return self.records.get(job_id)


@pytest.fixture
def bot(services, slack) -> Bot:
    settings = bolt_settings(slack, "bolt")
    records = JobRecords(make_store(settings.redis_url, settings.redis_prefix))
    return Bot(make_wsgi(build_app(settings), signing_secret=SIGNING_SECRET), records, slack)


def test_help_is_answered_in_the_ack_with_the_installed_reports(bot: Bot) -> None:
    answer = bot.command("help")
    assert answer.code == 200, answer.body
    assert answer.text.startswith("*How to use `/run-report`*"), answer.text
    assert "• `/run-report slow [seconds=&lt;number&gt;]`" in answer.text, answer.text


def test_a_report_run_is_queued_on_the_broker_and_recorded_for_status(bot: Bot) -> None:
    answer = bot.command("slow seconds=30")
    assert answer.code == 200, answer.body
    # "Queued" is said only once RabbitMQ confirmed the publish.
    queued = QUEUED.match(answer.text)
    assert queued, answer.text
    record = wait_until(lambda: bot.record(queued["id"]), timeout=5, what="the queued job's record")
    assert record is not None
    assert (record.job.report, record.job.args, record.job.channel, record.job.user) == (
        "slow",
        {"seconds": "30"},
        CHANNEL,
        ALICE,
    )
    status = bot.command(f"status {queued['id']}")
    assert f"`{queued['id']}` *slow* `seconds=30`" in status.text, status.text


def test_the_cancel_button_cancels_the_job_and_answers_the_clicker_privately(bot: Bot) -> None:
    queued = QUEUED.match(bot.command("slow seconds=30").text)
    assert queued
    job_id = queued["id"]
    clicked = bot.click(CANCEL_ACTION, job_id)
    assert clicked.code == 200 and clicked.body == b"", (clicked.code, clicked.body)
    answers = wait_until(
        lambda: [e.text for e in bot.slack.ephemerals(user=ALICE, channel=CHANNEL) if job_id in e.text],
        timeout=10,
        what="the clicker's answer",
    )
    assert answers[0].startswith(f":no_entry_sign: Cancelled job `{job_id}` (*slow* `seconds=30`)"), answers
    record = bot.record(job_id)
    assert record is not None and (record.state, record.cancelled_by) == ("cancelled", ALICE)
