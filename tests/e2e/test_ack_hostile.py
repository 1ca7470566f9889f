"""What the slash command's ack path accepts, through the real bot and worker processes.

Huge text is refused at once; a request without real user and channel ids is refused and runs
nothing; the same signed request delivered again, to the same bot or another, runs one job and
every copy is answered with that job's id. Requests are signed as Slack signs them; where they
carry what the fake Slack would never send, they are built and signed here.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from sandbox import sign
from tasks.rendering.messages import RERUN_ACTION
from tests.e2e.test_job_life import click
from tests.support import SIGNING_SECRET, start_bot

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")


def ack_text(body: Any) -> str:
    return str(body.get("text", "")) if isinstance(body, dict) else str(body or "")


def form(text: str, channel: str, **fields: str | None) -> dict[str, str]:
    """A slash command's form as Slack sends it; a field given as None is left out."""
    base: dict[str, str | None] = {
        "token": "fake-verification-token",
        "team_id": "T0TEST",
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": channel.lower(),
        "user_id": "U0MALLORY",
        "user_name": "mallory",
        "command": "/run-report",
        "text": text,
        "api_app_id": "A0TEST",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/response/none",
        "trigger_id": f"{time.time_ns()}.{threading.get_ident()}.e2e",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def signed(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery: send them again and it is the same request."""
    raw = urllib.parse.urlencode(fields).encode()
    ts = str(int(time.time()))
    return raw, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, raw),
    }


def deliver(port: int, raw: bytes, headers: dict[str, str]) -> tuple[int, Any, float]:
    """POST a signed request to a bot: (status, parsed ack body, seconds it took)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=raw, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    try:
        with opener.open(request, timeout=10) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    elapsed = time.monotonic() - started
    try:
        body: Any = json.loads(data)
    except ValueError:
        body = data.decode(errors="replace")
    return status, body, elapsed


# ------------------------------------------------------------------ case 4: huge text


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_400000_character_command_is_refused_within_the_ack_budget(
    slack, http_bot, socket_bot, worker, mode
):
    # Quotes, `=` and spaces all through it, but mostly letters: about 410 kB once form-encoded.
    text = 'echo text="' + (("a=\"b' " + "x" * 94) * 4000)[: 400_000 - 11]
    assert len(text) == 400_000
    response = slack.send_command("/run-report", text, channel="C0HUGE", user="U0MALLORY", mode=mode)
    assert response.ok and response.status == 200, response
    assert response.elapsed < 3.0
    answer = ack_text(response.body)
    assert "400,000 characters" in answer and "40,000" in answer and "Nothing was queued" in answer
    assert len(answer) < 1000
    assert any("400,000 characters" in e.text for e in slack.ephemerals(user="U0MALLORY", channel="C0HUGE"))
    time.sleep(1.0)  # long enough for the worker to have posted a status message, had one been queued
    assert slack.messages("C0HUGE") == []


# ------------------------------------------------------------------ case 5: missing or odd ids


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"user_id": None}, "user_id"),
        ({"channel_id": None}, "channel_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "U1> <!channel"}, "user_id"),
        ({"channel_id": "C0ODD> <!here"}, "channel_id"),
        ({"team_id": "T1> <!everyone"}, "team_id"),
    ],
    ids=[
        "no-user",
        "no-channel",
        "empty-user",
        "user-with-a-broadcast",
        "channel-with-a-broadcast",
        "odd-team",
    ],
)
def test_a_command_without_real_ids_is_refused_and_runs_nothing(slack, http_bot, worker, fields, named):
    status, body, elapsed = deliver(http_bot.port, *signed(form("ping", "C0NOIDS", **fields)))
    answer = ack_text(body)
    assert status == 200 and elapsed < 3.0
    assert "Nothing was done" in answer and f"`{named}`" in answer, answer
    assert "<!" not in answer and "<@" not in answer
    time.sleep(1.0)
    assert slack.messages("C0NOIDS") == [] and slack.messages("") == []


# ------------------------------------------------------------------ case 6: one job per delivery


def test_the_same_signed_command_delivered_three_times_to_two_bots_runs_one_job(
    slack, http_bot, worker, tmp_path
):
    other, other_port = start_bot(slack, tmp_path, "bot-replay")
    try:
        raw, headers = signed(form("echo text=once", "C0REPLAY", user_id="U0ALICE"))
        answers: list[tuple[int, Any, float]] = []
        first = deliver(http_bot.port, raw, headers)
        # The copies arrive together, at both bots, while the first job may still be running.
        copies = [
            threading.Thread(target=lambda p=p: answers.append(deliver(p, raw, headers)))
            for p in (
                http_bot.port,
                other_port,
            )
        ]
        for t in copies:
            t.start()
        for t in copies:
            t.join()
        ids = set()
        for status, body, elapsed in [first, *answers]:
            assert status == 200 and elapsed < 3.0
            match = JOB_ID.search(ack_text(body))
            assert match, ack_text(body)
            ids.add(match.group(1))
        assert len(ids) == 1, f"the copies named different jobs: {ids}"
        (job_id,) = ids
        slack.wait_for(
            lambda: [
                m
                for m in slack.messages("C0REPLAY")
                if job_id in str(m.blocks) and "succeeded" in str(m.blocks)
            ],
            timeout=20,
            message=f"job {job_id} to finish",
        )
        time.sleep(1.5)  # a second job would have posted by now
        statuses = [m for m in slack.messages("C0REPLAY") if "ran *echo*" in str(m.blocks)]
        assert len(statuses) == 1, [str(m.blocks) for m in statuses]

        # A click whose user id is not one runs nothing either, and mentions no one.
        click(slack, statuses[0], RERUN_ACTION, user="U1> <!channel")
        answer = slack.wait_for(
            lambda: [e.text for e in slack.ephemerals(user="U1> <!channel", channel="C0REPLAY")],
            timeout=10,
            message="an answer to the click",
        )[-1]
        assert "Nothing was done" in answer and "`user_id`" in answer and "<!" not in answer
        time.sleep(1.5)
        assert len([m for m in slack.messages("C0REPLAY") if "ran *echo*" in str(m.blocks)]) == 1
    finally:
        other.stop()


def test_a_command_delivered_over_socket_mode_and_http_alike_runs_one_job(
    slack, http_bot, socket_bot, worker
):
    """Socket Mode redelivers an envelope it thinks was lost; the same payload over either
    transport is one delivery."""
    fields = form("echo text=both", "C0REPLAYSM", user_id="U0ALICE")
    answers = [
        slack._deliver(fields, "slash_commands", True, "socket", None, None, None, 3.0),
        slack._deliver(fields, "slash_commands", True, "socket", None, None, None, 3.0),
    ]
    status, body, _ = deliver(http_bot.port, *signed(fields))
    ids = {match.group(1) for r in answers if r.ok and (match := JOB_ID.search(ack_text(r.body)))}
    over_http = JOB_ID.search(ack_text(body))
    assert over_http, body
    ids.add(over_http.group(1))
    assert status == 200 and len(ids) == 1 and all(r.ok for r in answers), (ids, answers)
    (job_id,) = ids
    slack.wait_for(
        lambda: [
            m
            for m in slack.messages("C0REPLAYSM")
            if job_id in str(m.blocks) and "succeeded" in str(m.blocks)
        ],
        timeout=20,
        message=f"job {job_id} to finish",
    )
    time.sleep(1.5)
    assert len([m for m in slack.messages("C0REPLAYSM") if "ran *echo*" in str(m.blocks)]) == 1
