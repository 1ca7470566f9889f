"""Logging as every process sets it up: what slack_sdk would log at DEBUG costs nothing at INFO; a
JSON line keeps the fields passed in `extra=`, redacted like the message."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sandbox import FakeSlack
from tasks.logs import configure_logging
from tasks.settings import Settings
from tasks.slack.web_api import make_client
from tests.support import BOT_TOKEN

pytestmark = pytest.mark.unit


class Spy(str):
    """Text that notes when something formats it with repr(), as slack_sdk's DEBUG line does."""

    formatted: list[str] = []

    def __repr__(self) -> str:
        Spy.formatted.append(str(self))
        return str.__repr__(self)


def test_at_info_a_web_api_call_does_not_format_its_request_for_the_debug_log(configured: None) -> None:
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    try:
        settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, log_level="INFO")
        configure_logging(settings)
        client = make_client(settings)
        Spy.formatted.clear()
        client.chat_postMessage(channel="C0LOGS", text=Spy("the weekly numbers"))
        assert [m.text for m in slack.messages("C0LOGS")] == ["the weekly numbers"]
        assert Spy.formatted == [], "the request was formatted for a DEBUG line that INFO drops"
    finally:
        slack.stop()


def test_a_json_line_keeps_the_extra_fields_redacted_and_no_record_attribute(
    configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(Settings(log_format="json", redis_url="redis://:R3disPassw0rd@redis:6379/0"))
    logging.getLogger("tasks.schedules.beat").warning(
        "schedule %s skipped",
        "s-1",
        extra={
            "schedule_id": "s-1",
            "attempts": 3,
            "source": {"url": "redis://:R3disPassw0rd@redis:6379/0", "tokens": ["xoxb-1-abc"]},
        },
    )
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "schedule s-1 skipped" and line["level"] == "WARNING"
    assert line["schedule_id"] == "s-1" and line["attempts"] == 3
    assert line["source"] == {"url": "redis://:[redacted]@redis:6379/0", "tokens": ["[redacted]"]}
    assert not {"args", "msg", "levelno", "pathname", "lineno", "thread", "created"} & set(line)
