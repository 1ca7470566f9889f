"""Digests that look after themselves, as a channel and a schedule's creator see them.

Real `python run.py bot` (HTTP), worker and beat processes, on a RabbitMQ virtual host of this
module's own, real Redis, and the fake Slack at the HTTP boundary. Alice is the one admin and
adds the schedules; Bob may run reports but not change schedules. Schedules repeat every 2 s
(SCHEDULE_MIN_INTERVAL=2), so a few runs take seconds.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.schedules.self_pause import notices_key
from tasks.store import make_store
from tests.support import (
    BOT_TOKEN,
    BROKER_ROOT,
    REDIS_PREFIX,
    REDIS_URL,
    SESSION,
    SIGNING_SECRET,
    TEST_REPORTS,
    WORKER_OPTIONS,
    Process,
    Services,
    base_env,
    start_bot,
    start_worker,
    wait_until,
)

CARE = Services(
    BROKER_ROOT, REDIS_URL, name=f"{SESSION}-digest-care", bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET
)
ALICE, BOB = "U0ALICE", "U0BOB"
ADDED = re.compile(r"as `(s-[0-9a-f]{6})`")
EXTRA = {
    "CELERY_BROKER_URL": CARE.broker_url,
    "REDIS_PREFIX": CARE.redis_prefix,
    "REPORT_MODULES": f"{TEST_REPORTS},tests.digest_reports",
    "ADMIN_USERS": ALICE,
    "SCHEDULE_MIN_INTERVAL": "2",
}


@pytest.fixture(scope="module")
def rig(services, slack_server, tmp_path_factory) -> Iterator[None]:
    """This module's bot, worker and beat, on this module's virtual host."""
    CARE.__enter__()
    tmp = tmp_path_factory.mktemp("digest-care")
    procs: list[Process] = []
    previous = getattr(slack_server, "bot_url", None)
    try:
        procs.append(
            start_worker(
                "care-worker",
                "tasks",
                base_env(slack_server.api_url, **EXTRA),
                tmp,
                *WORKER_OPTIONS,
                "--concurrency=2",
                celery_cli=True,
            )
        )
        bot, port = start_bot(slack_server, tmp, "care-bot", **EXTRA)
        procs.append(bot)
        slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
        beat = Process(
            "care-beat", [sys.executable, "run.py", "beat"], base_env(slack_server.api_url, **EXTRA), tmp
        )
        procs.append(beat)
        wait_until(lambda: "beat: Starting" in beat.log() or not beat.alive(), 30, what="beat to start")
        assert beat.alive(), beat.log()
        yield
    finally:
        slack_server.bot_url = previous
        for proc in reversed(procs):
            proc.stop()
        CARE.__exit__(None, None, None)


@pytest.fixture
def schedules(rig) -> Iterator[ScheduleStore]:
    """This module's schedules, emptied after each test so none fires into the next; and the
    count of pause notices Alice had this hour, so each test's DM is not past the hour's few."""
    raw = make_store(REDIS_URL, CARE.redis_prefix)
    store = ScheduleStore(raw)
    yield store
    for schedule in store.all():
        store.remove(schedule.id)
    raw.delete(notices_key(ALICE))


def command(slack, text: str, channel: str, user: str = ALICE) -> str:
    response = slack.send_command("/run-report", text, channel=channel, user=user)
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def add(slack, text: str, channel: str) -> str:
    ack = command(slack, f"schedule add {text}", channel)
    found = ADDED.search(ack)
    assert found, ack
    return found.group(1)


def paused(schedules: ScheduleStore, schedule_id: str, timeout: float = 15) -> Schedule:
    def read() -> Schedule | None:
        found = schedules.get(schedule_id)
        return found if found is not None and found.paused else None

    found = wait_until(read, timeout, what=f"schedule {schedule_id} to pause")
    assert found is not None
    return found


def dms(slack, about: str) -> list[str]:
    return [m.text for m in slack.messages(ALICE) if about in m.text]


def test_a_digest_that_keeps_failing_says_so_each_time_then_pauses_itself_once(slack, schedules) -> None:
    channel = "C0CAREFAIL"
    schedule_id = add(slack, "boom every 2s", channel)

    schedule = paused(schedules, schedule_id, timeout=30)
    assert schedule.paused_reason == "its last 3 runs in a row failed"
    time.sleep(5)  # two more planned runs: a paused schedule makes none, and says nothing again

    *failures, notice = slack.messages(channel)
    assert len(failures) == 3, [m.text for m in slack.messages(channel)]
    for message in failures:
        shown = str(message.blocks)
        assert "failed after" in shown and "`RuntimeError`" in shown and "Retry" in shown
        assert "warehouse is on fire" not in shown + message.text, "never the exception's text"
    assert "paused itself: its last 3 runs in a row failed" in notice.text
    assert f"schedule resume {schedule_id}" in notice.text
    [dm] = dms(slack, schedule_id)
    assert f"<#{channel}>" in dm and "paused itself" in dm
    assert "*paused* (its last 3 runs in a row failed)" in command(slack, "schedule list", channel, BOB)


def test_retry_on_a_failed_digest_runs_it_again_for_whoever_clicks(slack, schedules) -> None:
    channel = "C0CARERETRY"
    schedule_id = add(slack, "boom every 1h", channel)
    command(slack, f"schedule pause {schedule_id}", channel)

    click = retry_click(schedule_id, channel, BOB)
    assert slack.send_interaction(click).ok
    message = slack.wait_for(
        lambda: next((m for m in slack.messages(channel) if "Retry" in str(m.blocks)), None),
        timeout=15,
        message="the retried run's message",
    )
    assert f"schedule `{schedule_id}`" in str(message.blocks)


def retry_click(schedule_id: str, channel: str, user: str) -> dict[str, Any]:
    return {
        "user": {"id": user},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.000100"},
        "actions": [{"type": "button", "action_id": "reportbot_digest_retry", "value": schedule_id}],
    }


def test_a_skipped_digest_posts_nothing_and_is_recorded(slack, schedules) -> None:
    channel = "C0CAREQUIET"
    add(slack, "quiet every 2s", channel)

    def listed() -> str | None:
        text = command(slack, "schedule list", channel, BOB)
        return text if "skipped" in text else None

    listing = slack.wait_for(listed, timeout=20, message="schedule list to show a skipped run")
    assert "skipped" in listing
    assert slack.messages(channel) == [], "nothing is posted for a run with nothing to say"


def test_archiving_a_channel_pauses_its_schedules_and_tells_their_creator(slack, schedules) -> None:
    channel, elsewhere = "C0CAREARCH", "C0CAREOPEN"
    here = add(slack, "echo text=hi every 1h", channel)
    there = add(slack, "echo text=hi every 1h", elsewhere)

    slack.archive_channel(channel)

    assert paused(schedules, here).paused_reason == "its channel was archived"
    [dm] = slack.wait_for(lambda: dms(slack, here), timeout=10, message="the creator's DM")
    assert "its channel was archived" in dm
    assert not schedules.get(there).paused


def test_removing_the_bot_from_a_channel_pauses_its_schedules(slack, schedules) -> None:
    channel = "C0CAREGONE"
    schedule_id = add(slack, "echo text=hi every 1h", channel)

    slack.remove_bot(channel)

    assert paused(schedules, schedule_id).paused_reason == "I was removed from its channel"
    slack.wait_for(lambda: dms(slack, schedule_id), timeout=10, message="the creator's DM")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("channel_not_found", "I cannot see its channel any more"),
        ("is_archived", "its channel is archived"),
        ("not_in_channel", "I am no longer a member of its channel"),
    ],
)
def test_a_post_refused_for_good_pauses_the_schedule_without_a_retry(slack, schedules, error, reason) -> None:
    channel = f"C0CARE{error.upper().replace('_', '')[:8]}"
    slack.fail("chat.postMessage", error, times=1)
    schedule_id = add(slack, "echo text=hi every 2s", channel)

    assert paused(schedules, schedule_id).paused_reason.startswith(reason)
    [dm] = slack.wait_for(lambda: dms(slack, schedule_id), timeout=10, message="the creator's DM")
    assert reason in dm
    time.sleep(4)  # two more planned runs: none is made, nothing retries
    assert slack.messages(channel) == []
    assert len(dms(slack, schedule_id)) == 1


def test_pause_from_a_digests_menu_is_refused_to_a_non_admin(slack, schedules) -> None:
    channel = "C0CAREMENU"
    schedule_id = add(slack, "echo text=hi every 2s", channel)
    digest = slack.wait_for(
        lambda: next(iter(slack.messages(channel)), None), timeout=15, message="the first digest"
    )
    [menu] = [
        e
        for b in digest.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["type"] == "overflow"
    ]
    pause = next(o for o in menu["options"] if o["text"]["text"] == "Pause")

    def choose(user: str) -> None:
        slack.send_interaction(
            {
                "user": {"id": user},
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": digest.ts},
                "message": {"ts": digest.ts},
                "actions": [{"type": "overflow", "action_id": menu["action_id"], "selected_option": pause}],
            }
        )

    choose(BOB)
    refusal = slack.wait_for(
        lambda: [e.text for e in slack.ephemerals(user=BOB, channel=channel)],
        timeout=10,
        message="Bob's answer",
    )
    assert "Only <@U0ALICE> may pause schedules here" in refusal[-1]
    assert not schedules.get(schedule_id).paused

    choose(ALICE)
    assert paused(schedules, schedule_id).paused_reason == ""


def test_an_archive_over_socket_mode_pauses_the_channels_schedules_too(slack, socket_bot) -> None:
    """The session's Socket Mode bot, with the session's keys: the same listener, another transport."""
    store = ScheduleStore(make_store(REDIS_URL, REDIS_PREFIX))
    channel = "C0CARESOCKET"
    store.add(
        Schedule(
            id="s-50c4e7", report="echo", args={}, rule=Rule(every_seconds=3600), channel=channel, user=ALICE
        )
    )
    try:
        assert slack.archive_channel(channel, mode="socket").ok
        assert paused(store, "s-50c4e7").paused_reason == "its channel was archived"
        slack.wait_for(lambda: dms(slack, "s-50c4e7"), timeout=10, message="the creator's DM")
    finally:
        store.remove("s-50c4e7")
