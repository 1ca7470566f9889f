"""Driving the load and watching what Slack shows: concurrent commands, and when each job is done.

Every job of a burst gets a channel of its own, so "done" is read off the fake Slack exactly as a
person would see it: a status message in the channel that says how the job went and a reply in
its thread; for a schedule's run (a digest), its one message in the channel. The watcher is
a FakeSlack subscriber, stamped on arrival (no polling).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sandbox import FakeSlack


@dataclass
class Sent:
    channel: str
    sent_at: float
    ack_seconds: float
    ok: bool


@dataclass
class Watcher:
    """Per channel: bot messages at top level, thread replies, when the job was done as a person
    sees it (its result in the thread, and its status message no longer saying it runs), and
    when the first top-level message came (a digest's one message).

    A status message may be posted running and edited once finished (the naive bot's, and ours
    for a long report) or posted finished (ours for a quick report): either counts, whichever
    comes last of it and the reply."""

    top: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    done_at: dict[str, float] = field(default_factory=dict)
    posted_at: dict[str, float] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)  # channels whose status message says how it went
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def on_event(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        kind = event.get("type")
        if kind not in ("message", "message_changed"):
            return
        channel = str(event.get("channel"))
        message = event.get("message") or {}
        with self._lock:
            if kind == "message" and message.get("bot_id"):
                thread = message.get("thread_ts")
                if thread and thread != message.get("ts"):
                    self.replies[channel] += 1
                else:
                    self.top[channel] += 1
                    self.posted_at.setdefault(channel, now)
                    self._changed.notify_all()
                    if "running" not in str(message.get("text", "")):
                        self.settled.add(channel)
            elif kind == "message_changed" and "running" not in str(message.get("text", "")):
                self.settled.add(channel)
            if channel not in self.done_at and self.replies[channel] and channel in self.settled:
                self.done_at[channel] = now
                self._changed.notify_all()

    def finished(self, digest: bool = False) -> dict[str, float]:
        """When each channel's job was done: its status updated, or for a digest, its message."""
        return self.posted_at if digest else self.done_at

    def wait_done(self, channels: list[str], timeout: float, digest: bool = False) -> bool:
        """Wait until every channel's job is done; False on timeout."""
        deadline = time.monotonic() + timeout
        done = self.finished(digest)
        with self._lock:
            while not all(c in done for c in channels):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True

    def lost_and_duplicated(self, channels: list[str], digest: bool = False) -> tuple[int, int]:
        """Jobs that never finished, and channels with more than one status message or reply
        (for a digest: more than its one message)."""
        done, replies = self.finished(digest), 0 if digest else 1
        with self._lock:
            lost = sum(1 for c in channels if c not in done)
            dup = sum(1 for c in channels if self.top[c] > 1 or self.replies[c] > replies)
        return lost, dup


def watch(slack: FakeSlack) -> tuple[Watcher, Any]:
    watcher = Watcher()
    return watcher, slack.subscribe(watcher.on_event)


def send_burst(slack: FakeSlack, text: str, channels: list[str], concurrency: int) -> list[Sent]:
    """Send one command per channel from `concurrency` senders, as fast as acks come back."""

    def one(channel: str) -> Sent:
        sent_at = time.monotonic()
        response = slack.send_command("/run-report", text, channel=channel, user="U0BENCH")
        return Sent(channel, sent_at, response.elapsed, response.ok)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sender") as pool:
        return list(pool.map(one, channels))
