"""`schedule add|list|remove` as the person typing them sees the answers: limits on how many
schedules one person or one channel may have, lists that fit one Slack message, and refusals that
tell nothing of other channels.

The real command handler and schedule commands on the in-memory store (the same semantics as
Redis, `tasks.store`); nothing here needs a service.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from bot.app import install_schedule_commands
from bot.commands import CommandHandler, Reply
from bot.paging import ANSWER_LIMIT
from bot.publish import Publisher
from tasks.jobs.records import JobRecords
from tasks.reports import Registry, Report
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.settings import Settings
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit

ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
SCHEDULE_ID = re.compile(r"as `(s-[0-9a-f]{6})`")


def echo(text: str = "hello") -> str:
    return text


def handler_for(**settings: Any) -> CommandHandler:
    registry = Registry()
    registry.add(Report.from_function(echo, name="echo", help="Say the text back"))
    config = Settings(slack_bot_token="xoxb-x", slack_api_url="http://127.0.0.1:9/api/", **settings)
    handler = CommandHandler(config, registry, Publisher(config), JobRecords(MemoryStore()))
    install_schedule_commands(handler, config)
    return handler


def say(handler: CommandHandler, text: str, channel: str = "C0HERE", user: str = ALICE) -> Reply:
    return handler.handle({"text": text, "channel_id": channel, "user_id": user, "team_id": "T0TEST"})


def add(handler: CommandHandler, channel: str = "C0HERE", user: str = ALICE, text: str = "x") -> Reply:
    return say(handler, f"schedule add echo text={text} every 1h tz=UTC", channel, user)


def stored(handler: CommandHandler) -> list[Schedule]:
    return ScheduleStore(handler.records.store).all()


# -- case 8: a refusal tells nothing of another channel -------------------------------------


@pytest.mark.parametrize("verb", ["remove", "pause", "resume"])
def test_a_schedule_of_another_channel_is_answered_as_if_it_did_not_exist(verb: str) -> None:
    handler = handler_for()
    added = add(handler, channel="C0PRIV").text
    match = SCHEDULE_ID.search(added)
    assert match, added
    schedule_id = match.group(1)

    theirs = say(handler, f"schedule {verb} {schedule_id}", channel="C0PUBLIC", user=BOB).text
    unknown = say(handler, f"schedule {verb} s-000000", channel="C0PUBLIC", user=BOB).text

    assert "C0PRIV" not in theirs and "another channel" not in theirs
    assert theirs == unknown.replace("s-000000", schedule_id)
    assert [s.id for s in stored(handler)] == [schedule_id] and not stored(handler)[0].paused


# -- case 11: how many schedules ------------------------------------------------------------


def test_one_person_may_add_schedules_up_to_their_limit_then_is_told_why_not() -> None:
    handler = handler_for(schedules_per_user=3, schedules_per_channel=100)
    for n in range(3):
        assert add(handler, channel=f"C0N{n}").outcome == "scheduled"

    refused = add(handler, channel="C0N9")
    assert refused.outcome == "refused"
    assert "3 schedules" in refused.text and "SCHEDULES_PER_USER" not in refused.text
    assert "schedule remove" in refused.text
    assert len(stored(handler)) == 3
    # Someone else still may.
    assert add(handler, channel="C0N9", user=BOB).outcome == "scheduled"


def test_a_channel_holds_at_most_its_limit_of_schedules_whoever_adds_them() -> None:
    handler = handler_for(schedules_per_user=100, schedules_per_channel=4)
    for n in range(4):
        assert add(handler, user=f"U0P{n}").outcome == "scheduled"

    refused = add(handler, user="U0P9")
    assert refused.outcome == "refused"
    assert "4 schedules" in refused.text and "this channel" in refused.text.lower()
    assert len(stored(handler)) == 4
    assert add(handler, channel="C0OTHER", user="U0P9").outcome == "scheduled"


def test_a_freed_place_can_be_taken_again() -> None:
    handler = handler_for(schedules_per_user=1)
    added = add(handler).text
    match = SCHEDULE_ID.search(added)
    assert match, added
    schedule_id = match.group(1)
    assert add(handler).outcome == "refused"
    assert "Removed" in say(handler, f"schedule remove {schedule_id}").text
    assert add(handler).outcome == "scheduled"


def test_admins_are_not_limited() -> None:
    handler = handler_for(schedules_per_user=2, schedules_per_channel=2, admin_users=(ADMIN,))
    assert all(add(handler, user=ADMIN).outcome == "scheduled" for _ in range(5))
    assert len(stored(handler)) == 5


def test_zero_means_no_limit() -> None:
    handler = handler_for(schedules_per_user=0, schedules_per_channel=0)
    assert all(add(handler).outcome == "scheduled" for _ in range(30))


def test_a_burst_of_concurrent_adds_cannot_overshoot_the_limit() -> None:
    handler = handler_for(schedules_per_user=5, schedules_per_channel=100)
    start = threading.Barrier(40)
    replies: list[Reply] = []

    def one(n: int) -> None:
        start.wait()
        replies.append(add(handler, channel=f"C0B{n % 7}", text=str(n)))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stored(handler)) == 5
    assert sum(r.outcome == "scheduled" for r in replies) == 5
    assert all(r.outcome in ("scheduled", "refused") for r in replies), [r.text for r in replies]


# -- case 11: a long list fits one message ---------------------------------------------------


def seed(handler: CommandHandler, count: int, channel: str = "C0MANY", text: str = "hello") -> list[str]:
    """`count` schedules in `channel`, written as `schedule add` writes them."""
    schedules = ScheduleStore(handler.records.store)
    now = time.time()
    ids = []
    for n in range(count):
        schedule = Schedule(
            id=f"s-{n:06x}",
            report="echo",
            args={"text": f"{text}{n}"},
            rule=Rule(every_seconds=60, tz="UTC"),
            channel=channel,
            user=ALICE,
            created_at=now - 1000 + n,
            since=now - 1000 + n,
        )
        schedules.add(schedule)
        ids.append(schedule.id)
    return ids


def shown_ids(text: str) -> list[str]:
    return re.findall(r"`(s-[0-9a-f]{6})`", text.split("\n\n")[0])


def test_five_hundred_schedules_are_listed_a_page_at_a_time_each_page_fitting_slack() -> None:
    handler = handler_for()
    ids = seed(handler, 500)
    first = say(handler, "schedule list", channel="C0MANY").text
    assert len(first) <= ANSWER_LIMIT
    on_first = shown_ids(first)
    assert on_first == ids[: len(on_first)] and len(on_first) >= 10
    assert f"{500 - len(on_first)} more" in first and "`/run-report schedule list page 2`" in first

    seen = list(on_first)
    page = 2
    while len(seen) < 500:
        text = say(handler, f"schedule list page {page}", channel="C0MANY").text
        assert len(text) <= ANSWER_LIMIT, (page, len(text))
        seen += shown_ids(text)
        page += 1
        assert page < 200
    assert seen == ids
    assert "more" not in text.split("\n\n", 1)[-1] or "page" not in text.split("\n\n", 1)[-1]


def test_a_page_past_the_end_names_how_many_there_are() -> None:
    handler = handler_for()
    seed(handler, 25)
    reply = say(handler, "schedule list page 99", channel="C0MANY")
    assert reply.outcome == "refused"
    assert "page 99" in reply.text and "schedule list page" in reply.text


def test_schedules_with_very_long_arguments_still_fit() -> None:
    handler = handler_for()
    ids = seed(handler, 30, text="<!channel>" + "x" * 3900)
    seen: list[str] = []
    for text in ("schedule list", "schedule list page 2", "schedule list page 3"):
        answer = say(handler, text, channel="C0MANY").text
        assert len(answer) <= ANSWER_LIMIT and "<!channel>" not in answer
        seen += shown_ids(answer)
    assert seen == ids


def test_a_short_list_is_shown_whole_without_paging_words() -> None:
    handler = handler_for()
    ids = seed(handler, 3)
    text = say(handler, "schedule list", channel="C0MANY").text
    assert shown_ids(text) == ids and "page" not in text


# -- case 6 for schedules: a replayed `schedule add` adds nothing new ------------------------


def test_the_same_schedule_add_delivered_twice_adds_one_schedule_and_both_answers_name_it() -> None:
    handler = handler_for()
    request = {
        "text": "schedule add echo text=x every 1h tz=UTC",
        "channel_id": "C0HERE",
        "user_id": ALICE,
        "team_id": "T0TEST",
        "trigger_id": "1234.5678.replayed",
    }
    first, again = handler.handle(request), handler.handle(dict(request))
    assert first.outcome == "scheduled", first.text
    assert len(stored(handler)) == 1, again.text
    assert SCHEDULE_ID.findall(again.text) == SCHEDULE_ID.findall(first.text), (first.text, again.text)


def test_a_schedule_add_refused_at_its_limit_leaves_no_mark_so_a_later_delivery_adds() -> None:
    handler = handler_for(schedules_per_user=1)
    assert add(handler, text="one").outcome == "scheduled"
    request = {
        "text": "schedule add echo text=two every 1h tz=UTC",
        "channel_id": "C0HERE",
        "user_id": ALICE,
        "trigger_id": "1234.5678.refused",
    }
    assert "schedules already" in handler.handle(request).text
    ScheduleStore(handler.records.store).remove(stored(handler)[0].id)
    deadline = time.monotonic() + 2
    while (reply := handler.handle(dict(request))).outcome != "scheduled" and time.monotonic() < deadline:
        time.sleep(0.02)  # the refused delivery's mark is removed off the ack path
    assert reply.outcome == "scheduled", reply.text
