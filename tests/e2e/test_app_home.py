"""The App Home as a person sees it in Slack: their schedules and recent jobs, kept current
without reopening the tab, and its buttons doing what the commands do, under the same rules.

A bot of its own, the session's worker, a real `python run.py beat` (it republishes the Homes of
people whose jobs ended), real RabbitMQ and Redis, and the fake Slack's Home tab.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import REDIS_PREFIX, REDIS_URL, Process, base_env, start_bot, wait_until

ALICE, BOB = "U0HOMEALICE", "U0HOMEBOB"
CHANNEL = "C0HOME"
SCHEDULE_ID = re.compile(r"as `(s-[0-9a-f]{6})`")
JOB_ID = re.compile(r"`([0-9a-f]{8})`")


@pytest.fixture(scope="module")
def home_bot(services, slack_server, tmp_path_factory) -> Iterator[Process]:
    """`python run.py bot` for this module, no admins: each person manages their own schedules."""
    previous = getattr(slack_server, "bot_url", None)
    proc, port = start_bot(slack_server, tmp_path_factory.mktemp("home-bot"), "home-bot")
    slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
    yield proc
    proc.stop()
    slack_server.bot_url = previous


@pytest.fixture
def beat(services, slack_server, tmp_path) -> Iterator[Process]:
    proc = Process("home-beat", [sys.executable, "run.py", "beat"], base_env(slack_server.api_url), tmp_path)
    wait_until(lambda: "beat: Starting" in proc.log() or not proc.alive(), 30, what="beat to start")
    assert proc.alive(), proc.log()
    yield proc
    proc.stop()


@pytest.fixture
def fresh(services) -> Iterator[None]:
    """No schedules from Slack, and no one has opened a Home, before and after each test."""
    import redis

    r = redis.Redis.from_url(REDIS_URL)

    def clear() -> None:
        r.delete(f"{REDIS_PREFIX}schedules", f"{REDIS_PREFIX}schedule-runs", f"{REDIS_PREFIX}beat:leader")
        for user in (ALICE, BOB):
            r.delete(f"{REDIS_PREFIX}home:opened:{user}", f"{REDIS_PREFIX}user:{user}:jobs")

    clear()
    yield
    clear()


def home_text(slack, user: str) -> str:
    """Everything the user's Home says, as one text ("" before any is published)."""
    view = slack.home(user)
    return json.dumps(view, ensure_ascii=False) if view else ""


def notice(slack, user: str) -> str:
    view = slack.home(user) or {}
    for block in view.get("blocks", []):
        if block.get("block_id") == "home_notice":
            return str(block["text"]["text"])
    return ""


def buttons_of(slack, user: str, schedule_id: str) -> list[str]:
    view = slack.home(user) or {}
    for block in view.get("blocks", []):
        if block.get("block_id") == f"home_buttons_{schedule_id}":
            return [e["text"]["text"] for e in block["elements"]]
    return []


def until_home(slack, user: str, says: Any, what: str) -> None:
    wait_until(lambda: says(home_text(slack, user)), timeout=15, what=f"{user}'s Home to show {what}")


def command(slack, text: str, user: str = ALICE) -> str:
    response = slack.send_command("/run-report", text, channel=CHANNEL, user=user)
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def test_the_home_shows_schedules_and_jobs_and_keeps_them_current(slack, worker, home_bot, beat, fresh):
    slack.open_home(ALICE)
    until_home(slack, ALICE, lambda t: "No schedules yet" in t, "no schedules")

    added = command(slack, "schedule add echo text=<b>hi</b> every 1h tz=Europe/Paris")
    match = SCHEDULE_ID.search(added)
    assert match, added
    sid = match.group(1)
    until_home(slack, ALICE, lambda t: sid in t, f"schedule {sid} without reopening the tab")
    shown = home_text(slack, ALICE)
    assert "`text=&lt;b&gt;hi&lt;/b&gt;`" in shown and "every 1h" in shown and "Europe/Paris" in shown
    assert buttons_of(slack, ALICE, sid) == ["Run now", "Pause", "Edit…", "Remove"]

    command(slack, f"schedule pause {sid}")
    until_home(slack, ALICE, lambda t: "*Paused*" in t, "the schedule paused")
    assert buttons_of(slack, ALICE, sid) == ["Run now", "Resume", "Edit…", "Remove"]

    slack.home_action(ALICE, "home.resume", sid)
    wait_until(lambda: "Resumed schedule" in notice(slack, ALICE), timeout=15, what="the Resume answer")
    assert buttons_of(slack, ALICE, sid)[1] == "Pause"

    slack.home_action(ALICE, "home.run_now", sid)
    wait_until(lambda: JOB_ID.search(notice(slack, ALICE)), timeout=15, what="the Run now answer")
    match = JOB_ID.search(notice(slack, ALICE))
    assert match
    job_id = match.group(1)
    wait_until(
        lambda: any(
            job_id in str(m.blocks) and "succeeded" in str(m.blocks) for m in slack.messages(CHANNEL)
        ),
        timeout=30,
        what=f"job {job_id}'s result in the channel",
    )
    # The job ended: beat republishes Alice's Home with it, without her reopening the tab.
    until_home(slack, ALICE, lambda t: job_id in t and ":white_check_mark:" in t, f"job {job_id} succeeded")
    assert f"archives/{CHANNEL}/p" in home_text(slack, ALICE), "a link to the job's status message"

    slack.home_action(ALICE, "home.remove", sid)
    wait_until(lambda: "Removed schedule" in notice(slack, ALICE), timeout=15, what="the Remove answer")
    assert "No schedules yet" in home_text(slack, ALICE)


def test_someone_elses_pause_from_the_home_is_refused_and_changes_nothing(slack, home_bot, fresh):
    added = command(slack, "schedule add echo every 1h tz=UTC", user=ALICE)
    match = SCHEDULE_ID.search(added)
    assert match, added
    sid = match.group(1)
    bobs = SCHEDULE_ID.search(command(slack, "schedule add echo text=bob every 1h tz=UTC", user=BOB))
    assert bobs
    slack.open_home(BOB)
    until_home(slack, BOB, lambda t: bobs.group(1) in t, "Bob's own schedule")
    assert sid not in home_text(slack, BOB), "Bob's Home lists only his own"

    # A tampered click: Bob's own Pause button, sent with Alice's schedule id.
    slack.home_action(BOB, "home.pause", sid)
    wait_until(lambda: notice(slack, BOB), timeout=15, what="Bob's answer")
    assert notice(slack, BOB).startswith(f"There is no schedule `{sid}` that you may manage.")
    listed = command(slack, "schedule list", user=ALICE)
    assert sid in listed and "paused" not in listed, listed


def test_the_home_opens_over_socket_mode_too(slack, socket_bot, fresh):
    slack.open_home(ALICE, mode="socket")
    until_home(slack, ALICE, lambda t: "Your recent jobs" in t, "over Socket Mode")


def test_a_cancelled_job_shows_cancelled_on_its_requesters_home(slack, worker, home_bot, fresh):
    slack.open_home(ALICE)
    until_home(slack, ALICE, lambda t: "Your recent jobs" in t, "the Home")
    queued = command(slack, "slow seconds=30")
    match = JOB_ID.search(queued)
    assert match, queued
    job_id = match.group(1)
    command(slack, f"cancel {job_id}")
    until_home(slack, ALICE, lambda t: job_id in t and "cancelled" in t, f"job {job_id} cancelled")
