"""Work after the ack never reaches Bolt as an exception (it would turn the ack into a 500)."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.after_ack import AfterAck

pytestmark = pytest.mark.unit


def test_a_failure_after_the_ack_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    after = AfterAck(threads=1)
    done = threading.Event()

    def broken() -> None:
        done.set()
        raise RuntimeError("redis said no")

    with caplog.at_level(logging.ERROR, logger="bot.after_ack"):
        after.run(broken, "command")  # returns, whatever the work does
        assert done.wait(5)
        after._pool.shutdown(wait=True)
    (record,) = [r for r in caplog.records if "after-ack work failed" in r.getMessage()]
    assert record.getMessage().startswith("command:") and "redis said no" in str(record.exc_info)


def test_work_handed_over_while_the_process_stops_is_done_there_and_then() -> None:
    after = AfterAck(threads=1)
    after._pool.shutdown(wait=True)
    ran: list[str] = []
    after.run(lambda: ran.append("recorded"), "command")
    assert ran == ["recorded"]
