"""Hostile and careless requests to the real bot (`python run.py bot`), over HTTP and Socket Mode.

A command or a click whose fields say "payload" runs like any other; an oversized unsigned POST
is refused before it is read, and leaves the bot's log as it was; malformed signature headers
and bodies get a 4xx, never a 500 or a traceback.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse

import pytest

from sandbox import sign
from tests.support import SIGNING_SECRET

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
CHANNEL = "C0HOSTILE"


def job_id_in(text: str) -> str:
    """The id of the job the answer names; the test fails here, showing the answer, if it names none."""
    match = JOB_ID.search(text)
    assert match, text
    return match.group(1)


def ack_text(response) -> str:
    assert response.ok and response.status == 200, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def finished_status(slack, job_id: str, channel: str = CHANNEL):
    """The job's status message once it has succeeded, with its result in the thread."""
    return slack.wait_for(
        lambda: next(
            (
                m
                for m in slack.messages(channel)
                if job_id in str(m.blocks) and "succeeded" in str(m.blocks) and slack.thread(channel, m.ts)
            ),
            None,
        ),
        timeout=30,
        message=f"job {job_id} to succeed",
    )


@pytest.mark.parametrize("mode", ["http", "socket"])
@pytest.mark.parametrize(
    "text, fields",
    [
        ("echo text=payload", {}),
        ("echo text=hi", {"user_name": "payload"}),
        ("echo text=hi", {"channel_name": "payload"}),
    ],
    ids=["in-text", "in-user_name", "in-channel_name"],
)
def test_a_command_that_says_payload_in_any_field_runs_and_answers(
    slack, worker, http_bot, socket_bot, mode, text, fields
):
    response = slack.send_command("/run-report", text, channel=CHANNEL, user="U0ALICE", mode=mode, **fields)
    ack = ack_text(response)
    assert "Queued *echo*" in ack, ack
    job_id = job_id_in(ack)
    status = finished_status(slack, job_id)
    (reply,) = slack.thread(CHANNEL, status.ts)
    assert text.split("=", 1)[1] in reply.text + str(reply.blocks)


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_click_on_a_message_that_says_payload_is_handled(slack, worker, http_bot, socket_bot, mode) -> None:
    job_id = job_id_in(
        ack_text(slack.send_command("/run-report", "echo text=payload", channel=CHANNEL, mode=mode))
    )
    status = finished_status(slack, job_id)
    rerun = next(
        e
        for b in status.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reportbot_rerun"
    )
    click = {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "payload"},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": status.ts, "channel_id": CHANNEL},
        "message": {"ts": status.ts, "text": status.text, "blocks": status.blocks},
        "actions": [
            {
                "type": "button",
                "action_id": "reportbot_rerun",
                "block_id": "b",
                "value": rerun["value"],
                "action_ts": str(time.time()),
            }
        ],
    }
    response = slack.send_interaction(click, mode=mode)
    assert response.ok and response.status == 200, response
    # Run again queued a second echo: its own status message in the channel, succeeded.
    slack.wait_for(
        lambda: [
            m
            for m in slack.messages(CHANNEL)
            if job_id not in str(m.blocks) and "succeeded" in str(m.blocks) and "payload" in str(m.blocks)
        ],
        timeout=30,
        message="the job run again",
    )


def _post(
    port: int, body: bytes, headers: dict[str, str], chunk: int = 1 << 20, chunked: bool = False
) -> tuple[int, float]:
    """POST `body` in pieces (with Content-Length, or in HTTP chunks); the server may answer and
    close before it is all sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    conn.putrequest("POST", "/slack/events")
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))}
    for name, value in {**headers, **framing}.items():
        conn.putheader(name, value)
    conn.endheaders()
    try:
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            conn.send(b"0\r\n\r\n")
    except OSError:  # refused mid-body: the answer is already waiting
        pass
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.monotonic() - started


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_30_mb_unsigned_post_is_refused_quickly_and_the_log_stays_small(http_bot, chunked) -> None:
    before = http_bot.log_path.stat().st_size
    status, elapsed = _post(
        http_bot.port,
        b"text=" + b"A" * (30 * 1024 * 1024),
        {"Content-Type": "application/x-www-form-urlencoded"},
        chunked=chunked,
    )
    assert status == 413
    assert elapsed < 2.0
    time.sleep(0.5)
    grown = http_bot.log_path.stat().st_size - before
    assert grown < 1000, http_bot.log()[-2000:]
    http_bot.check()


@pytest.mark.parametrize(
    "body, headers, expected",
    [
        (b"command=%2Frun-report&text=ping", {"X-Slack-Request-Timestamp": "abc"}, 401),
        (b"command=%2Frun-report&text=\xff\xfe", {}, 400),
        (b"command=%2Frun-report&text=ping", {"Content-Type": "text/plain"}, 400),
        (b'{"type": ', {"Content-Type": "application/json"}, 400),
    ],
    ids=["timestamp-abc", "not-utf8", "wrong-content-type", "bad-json"],
)
def test_malformed_requests_get_4xx_and_no_traceback(http_bot, body, headers, expected) -> None:
    before = http_bot.log_path.stat().st_size
    ts = str(int(time.time()))
    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
        **headers,
    }
    status, elapsed = _post(http_bot.port, body, all_headers)
    assert status == expected and elapsed < 3.0
    time.sleep(0.3)
    with open(http_bot.log_path, "rb") as log:
        log.seek(before)
        added = log.read().decode(errors="replace")
    assert "Traceback" not in added and all(len(line) <= 300 for line in added.splitlines()), added


def test_a_refused_request_runs_nothing(slack, http_bot, worker) -> None:
    body = urllib.parse.urlencode(
        {"command": "/run-report", "text": "ping", "channel_id": CHANNEL, "user_id": "U0ALICE"}
    ).encode()
    status, _ = _post(
        http_bot.port,
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": "abc",
            "X-Slack-Signature": "v0=x",
        },
    )
    assert status == 401
    time.sleep(1.0)
    assert slack.messages(CHANNEL) == []
