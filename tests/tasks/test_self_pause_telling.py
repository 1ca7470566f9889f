"""How many messages a self-pause sends: a channel archived with many schedules in it is one
DM per creator, not one per schedule (a creator of twenty digests there would get twenty), and
the same event delivered again (Slack retries an event it thinks unacked) tells nobody twice.

`SelfPause` on the in-memory store with a recording stand-in for the Web API; no services.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.schedules.self_pause import CHANNEL_ARCHIVED_REASON, SelfPause
from tasks.settings import Settings
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit

CHANNEL, OTHER = "C0ARCHIVED", "C0ELSEWHERE"
ALICE, BOB = "U0ALICE", "U0BOB"


class RecordedPosts:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def post_message(self, channel: str, text: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.posts.append((channel, text))
        return {"ok": True}


def setup(schedules: list[tuple[str, str, str]]) -> tuple[SelfPause, RecordedPosts, ScheduleStore]:
    store = MemoryStore()
    slack = RecordedPosts()
    pause = SelfPause(Settings(slack_bot_token="xoxb-x"), store, slack)  # type: ignore[arg-type]
    stored = ScheduleStore(store)
    for schedule_id, channel, user in schedules:
        stored.add(
            Schedule(
                id=schedule_id,
                report="*sales* <!channel>",
                args={},
                rule=Rule(every_seconds=3600),
                channel=channel,
                user=user,
            )
        )
    return pause, slack, stored


def test_a_channel_with_many_schedules_archived_is_one_dm_per_creator_naming_each() -> None:
    alices = [(f"s-alice-{n:02d}", CHANNEL, ALICE) for n in range(20)]
    pause, slack, stored = setup([*alices, ("s-bob", CHANNEL, BOB), ("s-away", OTHER, ALICE)])

    paused = pause.pause_channel(CHANNEL, CHANNEL_ARCHIVED_REASON)

    assert len(paused) == 21
    assert all(s.paused for s in stored.all() if s.channel == CHANNEL)
    assert not any(s.paused for s in stored.all() if s.channel == OTHER)
    assert [to for to, _ in slack.posts] == [ALICE, BOB] or [to for to, _ in slack.posts] == [BOB, ALICE]
    (to_alice,) = [text for to, text in slack.posts if to == ALICE]
    assert "20 schedules" in to_alice and CHANNEL_ARCHIVED_REASON in to_alice
    assert "`s-alice-00`" in to_alice and "more" in to_alice  # named, within a bounded message
    assert len(to_alice) < 3000
    assert "<!channel>" not in to_alice
    (to_bob,) = [text for to, text in slack.posts if to == BOB]
    assert "`s-bob`" in to_bob and CHANNEL_ARCHIVED_REASON in to_bob


def test_the_same_event_again_tells_nobody_twice() -> None:
    pause, slack, _ = setup([("s-one", CHANNEL, ALICE), ("s-two", CHANNEL, ALICE)])

    pause.pause_channel(CHANNEL, CHANNEL_ARCHIVED_REASON)
    again = pause.pause_channel(CHANNEL, CHANNEL_ARCHIVED_REASON)

    assert again == []
    assert len(slack.posts) == 1


def test_two_pauses_racing_for_one_schedule_tell_its_creator_once() -> None:
    # Slack delivering the archive event again while the first delivery is still at work, or
    # the event and a worker's refused post: both read the schedule before either paused it.
    pause, slack, stored = setup([("s-one", CHANNEL, ALICE)])
    before = stored.get("s-one")
    first_reader = pause.schedules.get
    pause.schedules.get = lambda schedule_id: before  # type: ignore[method-assign]

    pause.pause("s-one", CHANNEL_ARCHIVED_REASON, tell_channel=False)
    second = pause.pause("s-one", "its channel is archived", tell_channel=False)

    pause.schedules.get = first_reader  # type: ignore[method-assign]
    assert second is None
    assert len(slack.posts) == 1
    found = stored.get("s-one")
    assert found is not None and found.paused and found.paused_reason == CHANNEL_ARCHIVED_REASON


def test_many_schedules_failing_at_once_do_not_flood_their_creator_or_channel() -> None:
    # The database down for the morning: every digest of one person, in one channel, reaches
    # its failure limit within minutes, each in a worker job of its own.
    schedules = [(f"s-fail-{n:02d}", CHANNEL, ALICE) for n in range(12)]
    pause, slack, stored = setup(schedules)

    for schedule_id, _, _ in schedules:
        for _ in range(pause.limit):
            pause.run_failed(schedule_id)

    assert all(s.paused for s in stored.all())  # every one paused: that part is never skipped
    to_alice = [text for to, text in slack.posts if to == ALICE]
    in_channel = [text for to, text in slack.posts if to == CHANNEL]
    assert 1 <= len(to_alice) <= 3 and 1 <= len(in_channel) <= 3
    assert "App Home" in to_alice[-1]  # the last one says where the rest are seen
    assert "schedule list" in in_channel[-1]
