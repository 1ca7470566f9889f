"""What a person sees for help, list and mistakes: a private answer, and nothing queued."""

from __future__ import annotations

import time
import urllib.request

import pytest

CHANNEL = "C0ASK"


def answer(slack, text: str, mode: str = "http") -> str:
    response = slack.send_command("/run-report", text, channel=CHANNEL, user="U0BOB", mode=mode)
    assert response.ok, response
    assert response.status == 200
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def assert_nothing_queued(slack) -> None:
    time.sleep(1.0)  # long enough for the shared worker to have posted a status message
    assert slack.messages(CHANNEL) == [], "a job was queued for a refused command"


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_help_lists_usage_and_every_report_with_its_arguments(slack, http_bot, worker, text):
    reply = answer(slack, text)
    assert "How to use `/run-report`" in reply
    assert "schedule add" in reply
    assert "/run-report ping" in reply and "Check the whole path" in reply
    # Each report with its arguments, their types and defaults; `<` and `>` escaped for mrkdwn.
    assert (
        "• `/run-report typed day=&lt;date YYYY-MM-DD&gt; [ratio=&lt;number&gt;] [loud=&lt;yes|no&gt;] "
        "[kind=bar|line]`: Show how arguments were converted"
    ) in reply.splitlines()
    assert "Say the text back" in reply
    # The answer is private to the person who asked.
    assert any("How to use" in e.text for e in slack.ephemerals(user="U0BOB", channel=CHANNEL))
    assert_nothing_queued(slack)


def test_help_for_one_report_shows_each_argument_type_and_default(slack, http_bot):
    reply = answer(slack, "help typed")
    assert "*typed*" in reply and "Usage:" in reply
    assert "ratio" in reply and "0.5" in reply
    assert "bar" in reply and "line" in reply


def test_list_names_the_reports(slack, http_bot, worker):
    reply = answer(slack, "list")
    for name in ("ping", "queue", "echo", "typed", "boom"):
        assert f"/run-report {name}" in reply
    assert_nothing_queued(slack)


def test_an_unknown_report_is_named_and_the_closest_suggested(slack, http_bot, worker):
    reply = answer(slack, "pnig")
    assert "`pnig`" in reply and "`ping`" in reply
    assert_nothing_queued(slack)


def test_an_ill_typed_argument_is_named_with_what_it_expects(slack, http_bot, worker):
    reply = answer(slack, "echo times=many")
    assert "`times`" in reply and "whole number" in reply and "many" in reply
    assert_nothing_queued(slack)


def test_a_missing_argument_is_named_and_asked_for_in_a_form(slack, http_bot, worker):
    # The form itself (opened with ratio=1 filled in) is tests/e2e/test_report_form.py.
    reply = answer(slack, "typed ratio=1")
    assert "Opening a form for `typed`: fill in `day` there." in reply
    assert_nothing_queued(slack)


def test_an_unknown_argument_is_named_with_the_valid_ones(slack, http_bot, worker):
    reply = answer(slack, "echo txt=hi")
    assert "`txt`" in reply and "text" in reply
    assert_nothing_queued(slack)


def test_refusals_arrive_over_socket_mode_too(slack, socket_bot, worker):
    reply = answer(slack, "pnig", mode="socket")
    assert "`pnig`" in reply and "`ping`" in reply
    assert_nothing_queued(slack)


# Forged, replayed and unsigned requests: tests/bot/test_abuse.py.


def test_healthz_answers_ok_in_both_modes(http_bot, socket_bot):
    for proc in (http_bot, socket_bot):
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=2) as r:
            assert r.status == 200 and b'"ok": true' in r.read()
