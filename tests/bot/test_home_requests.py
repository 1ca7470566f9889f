"""The App Home's requests dispatched in process into the real Bolt app: the tab opened (an
Events API JSON body) and the Home's buttons (block_actions from a view), each answered by a
views.publish to the fake Slack.

`bot.app.build_app` as in tests/bot/test_bolt_requests.py: signed requests into the WSGI app,
the real Redis (a key prefix of this test's own) and RabbitMQ, the fake Slack for Web API calls.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from bot.app import build_app
from bot.http import make_wsgi
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.store import Store, make_store
from tests.signed_requests import Answer, call, signed
from tests.support import (
    SIGNING_SECRET,
    bolt_settings,
    wait_until,
)

ALICE, BOB = "U0ALICE", "U0BOB"
SCHEDULE = Schedule(
    id="s-0a0b0c",
    report="echo",
    args={"text": "<!here>"},
    rule=Rule(cron="0 9 * * 1-5", tz="Europe/Berlin"),
    channel="C0HOMEREQ",
    user=ALICE,
)


class HomeBot:
    """The bot's WSGI app and its store; requests as Slack sends them for the Home tab."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], store: Store, slack: Any) -> None:
        self.wsgi, self.store, self.slack = wsgi, store, slack

    def open_home(self, user: str) -> Answer:
        event = {
            "token": "fake-verification-token",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        body = json.dumps(event).encode()
        return call(self.wsgi, body, signed(body, "application/json"))

    def click(self, user: str, action_id: str, value: str) -> Answer:
        click = {
            "type": "block_actions",
            "user": {"id": user, "username": "someone"},
            "team": {"id": "T0TEST", "domain": "test"},
            "api_app_id": "A0TEST",
            "trigger_id": f"1.2.{uuid.uuid4().hex}",
            "container": {"type": "view", "view_id": "V0HOME"},
            "view": {"id": "V0HOME", "type": "home", "hash": "1.abc", "blocks": []},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
        return call(self.wsgi, body, signed(body))

    def published(self, user: str, since: int = 0) -> list[dict[str, Any]]:
        """The views published for `user`, oldest first, from the `since`-th views.publish on."""
        views = []
        for request in self.slack.requests("views.publish")[since:]:
            if request.params.get("user_id") == user:
                view = request.params["view"]
                views.append(json.loads(view) if isinstance(view, str) else view)
        return views

    def next_home(self, user: str, since: int) -> dict[str, Any]:
        wait_until(lambda: self.published(user, since), timeout=10, what=f"a Home published for {user}")
        return self.published(user, since)[-1]


def notice_of(view: dict[str, Any]) -> str:
    return next((str(b["text"]["text"]) for b in view["blocks"] if b.get("block_id") == "home_notice"), "")


@pytest.fixture
def bot(services, slack) -> HomeBot:
    settings = bolt_settings(slack, "home")
    store = make_store(settings.redis_url, settings.redis_prefix)
    ScheduleStore(store).add(SCHEDULE)
    return HomeBot(make_wsgi(build_app(settings), signing_secret=SIGNING_SECRET), store, slack)


def test_opening_the_home_tab_publishes_the_persons_schedules(bot: HomeBot) -> None:
    answer = bot.open_home(ALICE)
    assert answer.code == 200, answer.text
    view = bot.next_home(ALICE, 0)
    assert view["type"] == "home"
    shown = json.dumps(view)
    assert "s-0a0b0c" in shown and "Europe/Berlin" in shown
    assert "<!here>" not in shown and "&lt;!here&gt;" in shown, "an argument never pings a channel"


def test_the_owners_pause_from_the_home_pauses_and_says_so_on_the_home(bot: HomeBot) -> None:
    bot.open_home(ALICE)
    bot.next_home(ALICE, 0)
    before = len(bot.slack.requests("views.publish"))
    answer = bot.click(ALICE, "home.pause", SCHEDULE.id)
    assert answer.code == 200, answer.text
    wait_until(
        lambda: any(notice_of(v) for v in bot.published(ALICE, before)), timeout=10, what="the Pause answer"
    )
    assert notice_of(bot.published(ALICE, before)[-1]).startswith(":double_vertical_bar: Paused schedule")
    paused = ScheduleStore(bot.store).get(SCHEDULE.id)
    assert paused is not None and paused.paused


def test_a_non_owners_pause_is_refused_on_their_home_and_changes_nothing(bot: HomeBot) -> None:
    bot.open_home(BOB)
    assert "s-0a0b0c" not in json.dumps(bot.next_home(BOB, 0)), "Bob's Home lists only his own"
    before = len(bot.slack.requests("views.publish"))
    bot.click(BOB, "home.pause", SCHEDULE.id)
    view = bot.next_home(BOB, before)
    assert notice_of(view).startswith("There is no schedule `s-0a0b0c` that you may manage.")
    kept = ScheduleStore(bot.store).get(SCHEDULE.id)
    assert kept is not None and not kept.paused
