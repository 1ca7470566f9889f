"""Pacing: a worker process that Slack has just refused waits out a channel's second itself."""

from __future__ import annotations

import pytest

from tasks.slack.pacing import CHANNEL_GAP, MEMORY, Pacing

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_process_never_refused_posts_its_replies_at_once() -> None:
    clock = Clock()
    assert Pacing(clock).wait_before_reply(status_posted_at=clock.now) == 0.0


def test_after_a_refusal_a_reply_waits_for_the_rest_of_the_channels_second() -> None:
    clock = Clock()
    pacing = Pacing(clock)
    pacing.refused()
    posted = clock.now
    clock.now += 0.25
    assert pacing.wait_before_reply(posted) == pytest.approx(CHANNEL_GAP - 0.25)
    clock.now = posted + CHANNEL_GAP + 0.1
    assert pacing.wait_before_reply(posted) == 0.0, "a status message a second old allows the reply"


def test_the_refusal_is_forgotten_unless_slack_refuses_again() -> None:
    clock = Clock()
    pacing = Pacing(clock)
    pacing.refused()
    clock.now += MEMORY - 0.5
    pacing.refused()  # renewed: still limiting
    clock.now += MEMORY - 0.5
    assert pacing.wait_before_reply(clock.now) == pytest.approx(CHANNEL_GAP)
    clock.now += 0.5
    assert pacing.wait_before_reply(clock.now) == 0.0, "Slack allows bursts again: post at once"
