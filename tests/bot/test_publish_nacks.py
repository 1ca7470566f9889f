"""A nacked publish is tried again for a moment before the person is told nothing was queued.

A quorum queue nacks what it is sent while it elects a new leader (its leader's node died): a
fraction of a second that the cluster heals by itself (tests/ha/test_rabbit_failover.py shows it
on a real cluster). Here the Celery app is a stand-in that nacks as told, and the clock is the
test's, so no time passes.
"""

from __future__ import annotations

from typing import Any

import pytest
from amqp.exceptions import MessageNacked
from kombu.exceptions import OperationalError

from bot.publish import NACK_RETRY_FOR, Publisher, QueueUnavailable
from tasks.jobs.records import Job
from tasks.settings import Settings
from tests.support import Clock

pytestmark = pytest.mark.unit

JOB = Job(id="0badf00d", report="ping", args={}, channel="C1", user="U1")


class NackingApp:
    """`send_task` fails `failures` times with `error` (kombu's wrapping of what amqp raised),
    then takes the message."""

    def __init__(self, failures: int, error: type[BaseException] = MessageNacked) -> None:
        self.failures, self.error = failures, error
        self.sent: list[str] = []
        self.tries = 0

    def send_task(self, name: str, **kwargs: Any) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise OperationalError("") from self.error()
        self.sent.append(kwargs["task_id"])


def publisher(app: NackingApp, clock: Clock) -> Publisher:
    return Publisher(Settings(), app=app, clock=clock, sleep=clock.advance)


def test_a_publish_nacked_while_the_queue_elects_a_leader_is_queued_once_on_a_later_try():
    clock, app = Clock(0), NackingApp(failures=3)

    publisher(app, clock).publish(JOB, time_limit=10)

    assert app.sent == ["0badf00d"]
    assert app.tries == 4
    assert clock.now < NACK_RETRY_FOR


def test_nacks_for_longer_than_the_ack_can_wait_tell_the_person_nothing_was_queued():
    clock, app = Clock(0), NackingApp(failures=1000)

    with pytest.raises(QueueUnavailable):
        publisher(app, clock).publish(JOB, time_limit=10)

    assert app.sent == []
    assert clock.now <= NACK_RETRY_FOR


def test_a_broker_that_is_down_is_not_tried_again():
    clock, app = Clock(0), NackingApp(failures=1, error=ConnectionRefusedError)

    with pytest.raises(QueueUnavailable):
        publisher(app, clock).publish(JOB, time_limit=10)

    assert app.tries == 1, "kombu already retried the connection; the ack must not wait more"
