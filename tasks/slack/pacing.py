"""Pacing a job's two messages in one channel while Slack is rate-limiting this worker.

chat.postMessage allows about one message a second per channel, with short bursts. A job posts
twice in its channel: its status message, then its result in the thread a few milliseconds
later. Slack's burst usually lets that through. When it does not (a digest to many channels,
or a workspace Slack holds to the strict rate), a job that posts its result that soon is
refused with a 429, keeps its rendered result in Redis and is retried: per job, one more Slack
call and more Redis round trips than the paced retry below.

So a worker process that has just been refused remembers it for a short while, and meanwhile a
job that has just posted its status message keeps its result and hands its remaining steps back
to the queue, due when the channel allows a second message, instead of asking Slack first. The
memory is short and renewed only by another refusal: when Slack allows bursts again, the jobs
post at once again. Process-local on purpose: nothing to read per job, and each pool process
learns from its own first refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds between two messages in one channel that Slack's ~1 message/s per channel always allows.
CHANNEL_GAP = 1.0
# Seconds a chat.postMessage refusal is remembered; every new refusal starts it again.
MEMORY = 2.0


class Pacing:
    """What one worker process has learned of Slack's per-channel limit lately."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = float("-inf")

    def now(self) -> float:
        """This clock's time: when a status message was posted, for `wait_before_reply`."""
        return self._clock()

    def refused(self) -> None:
        """Slack answered a chat.postMessage with 429."""
        self._until = self._clock() + MEMORY

    def wait_before_reply(self, status_posted_at: float) -> float:
        """Seconds to wait before posting in the thread of a status message posted at
        `status_posted_at` (this clock), or 0 to post now."""
        now = self._clock()
        if now >= self._until:
            return 0.0
        return max(0.0, CHANNEL_GAP - (now - status_posted_at))
