"""A digest's menu and Retry, and Slack's channel events, dispatched in process into the real
Bolt app (`bot.app.build_app` behind `bot.http.make_wsgi`), signed as Slack signs them, with
the real broker and Redis and the fake Slack for the answers and the DMs.

Each click is checked against the rules of the command it stands for: here one admin (Alice,
who made the schedules) and Bob, who may run reports but not change schedules.
"""

from __future__ import annotations

import json
import re
import sys
import types
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from bot.app import build_app
from bot.digest_menu import DIGEST_REMOVE_ACTION
from bot.http import make_wsgi
from sandbox.state import BOT_USER_ID
from tasks.jobs.records import JobRecords
from tasks.rendering.messages import DIGEST_MENU_ACTION, DIGEST_RETRY_ACTION
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.settings import Settings
from tasks.store import make_store
from tests.signed_requests import Answer, call, signed
from tests.support import (
    SIGNING_SECRET,
    bolt_settings,
    wait_until,
)

CHANNEL, OTHER = "C0DIGEST", "C0OTHER"
ALICE, BOB = "U0ALICE", "U0BOB"
QUEUED = re.compile(r"as job `(?P<id>[0-9a-f]{8})`, a run of schedule `s-echo` now")


class Bot:
    """The bot's WSGI app, its schedules and job records, and the fake Slack it answers through."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], settings: Settings, slack: Any) -> None:
        store = make_store(settings.redis_url, settings.redis_prefix)
        self.wsgi, self.slack = wsgi, slack
        self.schedules, self.records = ScheduleStore(store), JobRecords(store)

    def add(self, schedule_id: str, channel: str = CHANNEL, report: str = "echo") -> Schedule:
        schedule = Schedule(
            id=schedule_id,
            report=report,
            args={"text": "hi"},
            rule=Rule(every_seconds=3600),
            channel=channel,
            user=ALICE,
        )
        self.schedules.add(schedule)
        return schedule

    def click(self, action: dict[str, Any], *, user: str, channel: str = CHANNEL) -> Answer:
        minted = self.slack.workspace.mint_response_url(channel, user)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "someone"},
            "channel": {"id": channel, "name": "somewhere"},
            "team": {"id": "T0TEST", "domain": "test"},
            "api_app_id": "A0TEST",
            "container": {"type": "message", "message_ts": "1.000100", "channel_id": channel},
            "response_url": f"{self.slack.base_url}response/{minted.id}",
            "trigger_id": f"1.2.{uuid.uuid4().hex}",
            "actions": [{"block_id": "digest_x", **action}],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return call(self.wsgi, body, signed(body))

    def menu(self, choice: str, schedule_id: str, *, user: str, channel: str = CHANNEL) -> Answer:
        option = {"text": {"type": "plain_text", "text": choice}, "value": f"{choice}:{schedule_id}"}
        action = {"type": "overflow", "action_id": DIGEST_MENU_ACTION, "selected_option": option}
        return self.click(action, user=user, channel=channel)

    def button(self, action_id: str, value: str, *, user: str, channel: str = CHANNEL) -> Answer:
        return self.click(
            {"type": "button", "action_id": action_id, "value": value}, user=user, channel=channel
        )

    def event(self, event: dict[str, Any]) -> Answer:
        body = json.dumps(
            {
                "token": "x",
                "team_id": "T0TEST",
                "api_app_id": "A0TEST",
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": 1,
                "event": event,
            }
        ).encode()
        return call(self.wsgi, body, signed(body, "application/json"))

    def answers(self, user: str, channel: str = CHANNEL) -> list[str]:
        return [
            e.text for e in self.slack.ephemerals(user=user, channel=channel) if e.source == "response_url"
        ]

    def answered(self, user: str, words: str, channel: str = CHANNEL) -> str:
        found = wait_until(
            lambda: [t for t in self.answers(user, channel) if words in t],
            timeout=5,
            what=f"an answer with {words!r}",
        )
        return found[-1]

    def paused(self, schedule_id: str) -> Schedule:
        def read() -> Schedule | None:
            found = self.schedules.get(schedule_id)
            return found if found is not None and found.paused else None

        found = wait_until(read, timeout=5, what=f"schedule {schedule_id} to pause")
        assert found is not None
        return found


@pytest.fixture
def bot(services, slack) -> Bot:
    settings = bolt_settings(slack, "digest", admin_users=(ALICE,))
    return Bot(make_wsgi(build_app(settings), signing_secret=SIGNING_SECRET), settings, slack)


def test_run_now_and_retry_queue_a_run_of_the_schedule_for_the_clicker(bot: Bot) -> None:
    bot.add("s-echo")

    assert bot.menu("run", "s-echo", user=BOB).code == 200
    queued = QUEUED.search(bot.answered(BOB, "a run of schedule"))
    assert queued, bot.answers(BOB)
    record = wait_until(lambda: bot.records.get(queued["id"]), timeout=5, what="the run's record")
    assert record is not None
    assert record.job.schedule_id == "s-echo" and record.job.user == BOB and record.job.channel == CHANNEL
    assert record.job.args == {"text": "hi"}

    assert bot.button(DIGEST_RETRY_ACTION, "s-echo", user=ALICE).code == 200
    assert QUEUED.search(bot.answered(ALICE, "a run of schedule"))


def test_a_schedule_is_run_and_changed_only_from_its_own_channel(bot: Bot) -> None:
    bot.add("s-echo", channel=OTHER)

    bot.menu("run", "s-echo", user=ALICE)
    assert "There is no schedule `s-echo` in this channel" in bot.answered(ALICE, "no schedule")
    bot.menu("pause", "s-echo", user=ALICE)
    wait_until(lambda: len(bot.answers(ALICE)) >= 2, timeout=5, what="the second answer")
    assert "There is no schedule `s-echo` in this channel" in bot.answers(ALICE)[-1]
    assert not bot.schedules.get("s-echo").paused  # type: ignore[union-attr]


def test_pause_from_the_menu_follows_the_schedule_commands_rules(bot: Bot) -> None:
    bot.add("s-echo")

    bot.menu("pause", "s-echo", user=BOB)
    assert "Only <@U0ALICE> may pause schedules here" in bot.answered(BOB, "may pause")
    assert not bot.schedules.get("s-echo").paused  # type: ignore[union-attr]

    bot.menu("pause", "s-echo", user=ALICE)
    assert "Paused schedule `s-echo`" in bot.answered(ALICE, "Paused")
    assert bot.paused("s-echo").paused_reason == "", "paused by a person: no reason of its own"


def test_remove_asks_first_and_the_confirmed_button_removes(bot: Bot) -> None:
    bot.add("s-echo")

    bot.menu("remove", "s-echo", user=BOB)
    assert "Only <@U0ALICE> may remove schedules here" in bot.answered(BOB, "may remove")
    bot.button(DIGEST_REMOVE_ACTION, "s-echo", user=BOB)
    wait_until(lambda: len(bot.answers(BOB)) >= 2, timeout=5, what="Bob's second answer")
    assert bot.schedules.get("s-echo") is not None, "a forged confirm from Bob removes nothing"

    bot.menu("remove", "s-echo", user=ALICE)
    question = bot.answered(ALICE, "Remove schedule")
    assert "It will not run again" in question and bot.schedules.get("s-echo") is not None
    [prompt] = [e for e in bot.slack.ephemerals(user=ALICE, channel=CHANNEL) if "Remove schedule" in e.text]
    assert DIGEST_REMOVE_ACTION in str(prompt.blocks) and "confirm" in str(prompt.blocks)

    bot.button(DIGEST_REMOVE_ACTION, "s-echo", user=ALICE)
    assert "Removed schedule `s-echo`" in bot.answered(ALICE, "Removed")
    assert bot.schedules.get("s-echo") is None


def test_edit_is_refused_to_whoever_may_not_change_the_schedule(bot: Bot) -> None:
    bot.add("s-echo")

    bot.menu("edit", "s-echo", user=BOB)
    assert "Only <@U0ALICE> may change schedules here" in bot.answered(BOB, "may change")


def test_edit_opens_the_schedule_form_on_the_schedule_for_whoever_may_change_it(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form itself is `bot.schedule_form`'s; here a stand-in records how it is opened."""
    opened: list[dict[str, Any]] = []
    form = types.ModuleType("bot.schedule_form")
    form.open_schedule_form = lambda via, trigger_id, **kw: opened.append({"trigger_id": trigger_id, **kw})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.schedule_form", form)
    bot.add("s-echo")

    bot.menu("edit", "s-echo", user=ALICE)

    [call_] = wait_until(lambda: opened, timeout=5, what="the form to open")
    assert call_["schedule_id"] == "s-echo" and call_["user"] == ALICE and call_["channel"] == CHANNEL
    assert call_["trigger_id"].startswith("1.2.")
    assert bot.answers(ALICE) == [], "the form is the answer"


def test_a_forged_menu_value_is_an_unknown_schedule(bot: Bot) -> None:
    bot.menu("pause", "<!channel> s-1", user=ALICE)
    answer = bot.answered(ALICE, "no schedule")
    assert "<!channel>" not in answer


@pytest.mark.parametrize("kind", ["channel_archive", "group_archive", "channel_left"])
def test_archiving_or_leaving_a_channel_pauses_its_schedules_and_tells_their_creator(
    bot: Bot, kind: str
) -> None:
    bot.add("s-here")
    bot.add("s-there", channel=OTHER)

    answer = bot.event({"type": kind, "channel": CHANNEL, "user": BOB, "event_ts": "1.0"})

    assert answer.code == 200, answer.body
    paused = bot.paused("s-here")
    assert paused.paused_reason in ("its channel was archived", "I was removed from its channel")
    dm = wait_until(lambda: bot.slack.messages(ALICE), timeout=5, what="the creator's DM")
    assert "Your schedule `s-here`" in dm[-1].text and paused.paused_reason in dm[-1].text
    assert not bot.schedules.get("s-there").paused  # type: ignore[union-attr]


def test_only_the_bot_itself_leaving_a_channel_pauses_its_schedules(bot: Bot) -> None:
    bot.add("s-here")
    bot.add("s-there", channel=OTHER)

    bot.event({"type": "member_left_channel", "user": BOB, "channel": CHANNEL, "channel_type": "C"})
    bot.event({"type": "member_left_channel", "user": BOT_USER_ID, "channel": OTHER, "channel_type": "C"})

    assert bot.paused("s-there").paused_reason == "I was removed from its channel"
    assert not bot.schedules.get("s-here").paused, "Bob leaving changes nothing"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "event",
    [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}}],
    ids=["uninstalled", "revoked"],
)
def test_losing_the_app_pauses_every_schedule(bot: Bot, event: dict[str, Any]) -> None:
    bot.add("s-here")
    bot.add("s-there", channel=OTHER)

    bot.event(event)

    assert bot.paused("s-here") and bot.paused("s-there")
    assert bot.slack.messages(ALICE) == [], "no DM with a token that no longer works"
