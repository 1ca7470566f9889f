"""The HTTP boundary at /slack/events, in process: what Slack (or anyone) sends, and the answer.

The WSGI app is `bot.http.make_wsgi` around a real Bolt app from `bot.app.build_app`, with the
real command handler; its broker is down (a closed port), so a command that would be queued is
answered "Nothing was queued" at once. Requests are signed as Slack signs them. What is checked
is what a client and an operator see: the HTTP status, the answer's text, and the log.
"""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.app import build_app
from bot.commands import CommandHandler
from bot.http import MAX_BODY_BYTES, make_wsgi
from bot.publish import Publisher
from bot.slack_body import parse_body
from tasks.jobs.records import JobRecords
from tasks.reports import load_reports
from tasks.settings import Settings
from tasks.store import MemoryStore
from tests.signed_requests import FORM, call, command_form, signed
from tests.support import BOT_TOKEN, SIGNING_SECRET, TEST_REPORTS, free_port

pytestmark = pytest.mark.unit

LOG_LINE_MAX = 300


class Unread(io.BytesIO):
    """A request body that counts what the app read of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


@pytest.fixture(scope="module")
def wsgi(slack_server) -> Callable[..., Iterable[bytes]]:
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_server.api_url,
        celery_broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        report_modules=tuple(TEST_REPORTS.split(",")),
    )
    handler = CommandHandler(
        settings=settings,
        registry=load_reports(settings.report_modules),
        publisher=Publisher(settings),
        records=JobRecords(MemoryStore()),
    )
    return make_wsgi(build_app(settings, handler), signing_secret=SIGNING_SECRET)


@pytest.fixture(autouse=True)
def log_level(caplog: pytest.LogCaptureFixture) -> None:
    """Capture what a bot at its default LOG_LEVEL (INFO) writes."""
    caplog.set_level(logging.INFO)


def long_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records an operator would not want: over one short line, or with a traceback."""
    bad = []
    for record in caplog.records:
        line = record.getMessage()
        if record.exc_info or "\n" in line or len(line) > LOG_LINE_MAX:
            bad.append(
                f"{record.name}: {line[:200]!r}… ({len(line)} chars, exc_info={bool(record.exc_info)})"
            )
    return bad


# ------------------------------------------------- case 2: "payload" anywhere in a form


@pytest.mark.parametrize(
    "text, fields",
    [
        ("echo text=payload", {}),
        ('echo text="payload={}"', {}),
        ("echo text=hi", {"user_name": "payload"}),
        ("echo text=hi", {"channel_name": "payload-room"}),
        ("echo text=hi", {"team_domain": "payloads"}),
    ],
    ids=["text", "text-form-like", "user_name", "channel_name", "team_domain"],
)
def test_a_command_with_payload_in_any_field_is_answered_not_404(
    wsgi, text: str, fields: dict[str, str]
) -> None:
    body = command_form(text, **fields)
    answer = call(wsgi, body, signed(body))
    assert answer.code == 200, (answer.code, answer.body)
    # The command reached the handler: the broker is down here, so nothing could be queued.
    assert "Nothing was queued" in answer.text, answer.text


def test_a_button_click_whose_values_say_payload_reaches_its_listener(wsgi) -> None:
    click = {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "payload"},
        "channel": {"id": "C0HTTP", "name": "payload"},
        "team": {"id": "T0TEST", "domain": "test"},
        "api_app_id": "A0TEST",
        "response_url": "http://127.0.0.1:9/response/x",
        "trigger_id": "1.2.abc",
        "actions": [{"type": "button", "action_id": "reportbot_cancel", "block_id": "b", "value": "payload"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    assert call(wsgi, body, signed(body)).code == 200


def test_an_event_in_json_is_parsed_as_json(wsgi) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "payload-abc", "token": "t"}).encode()
    answer = call(wsgi, body, signed(body, "application/json"))
    assert answer.code == 200 and "payload-abc" in answer.body.decode()


# --------------------------------------------- case 3: sizes, signatures, malformed bodies


def test_a_body_over_the_limit_is_refused_before_it_is_read(wsgi, caplog) -> None:
    stream = Unread(b"x" * 1024)
    answer = call(wsgi, b"", {"Content-Type": FORM}, content_length=str(30 * 1024 * 1024), stream=stream)
    assert answer.code == 413
    assert stream.taken == 0, "the app read a body it had already refused"
    assert not long_lines(caplog)


def test_a_body_without_a_length_is_read_only_up_to_the_limit(wsgi) -> None:
    stream = Unread(b"x" * (MAX_BODY_BYTES * 3))
    answer = call(wsgi, b"", {"Content-Type": FORM}, content_length="", stream=stream)
    assert answer.code == 413
    assert stream.taken <= MAX_BODY_BYTES + 1


def test_the_largest_real_slack_payload_fits_under_the_limit(wsgi) -> None:
    # The largest body Slack sends: a view_submission (or a block_actions from a modal) carrying
    # the whole view, which Slack caps at 250 kB (`view_too_large`), form-encoded at worst (every
    # byte percent-escaped, three bytes each).
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "<&>" * 830}} for _ in range(100)]
    view = {"id": "V1", "type": "modal", "callback_id": "none", "blocks": blocks, "state": {"values": {}}}
    submission = {
        "type": "view_submission",
        "user": {"id": "U0ALICE"},
        "team": {"id": "T0TEST"},
        "view": view,
    }
    body = urllib.parse.urlencode({"payload": json.dumps(submission)}).encode()
    assert len(json.dumps(view)) >= 250_000 and len(body) > 750_000
    answer = call(wsgi, body, signed(body))
    assert answer.code != 413 and answer.code < 500, answer.code


@pytest.mark.parametrize(
    "override",
    [
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "abc"},
        {"X-Slack-Request-Timestamp": ""},
        {"X-Slack-Request-Timestamp": "1" * 5000},
        {"X-Slack-Request-Timestamp": "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660"},
        {"X-Slack-Signature": "v0=\u00e9\u00e9"},
        {"X-Slack-Signature": ""},
    ],
    ids=["wrong", "ts-abc", "ts-empty", "ts-huge", "ts-arabic-digits", "sig-latin1", "sig-empty"],
)
def test_a_bad_signature_is_401_with_one_short_log_line_and_no_body(wsgi, caplog, override) -> None:
    secret_text = "the-body-must-not-be-logged"
    body = command_form(f"echo text={secret_text}" + "x" * 20_000)
    answer = call(wsgi, body, {**signed(body), **override})
    assert answer.code == 401, (answer.code, answer.body)
    assert not long_lines(caplog), long_lines(caplog)
    assert secret_text not in caplog.text
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "401" in refusals[0], caplog.text


def test_a_signed_body_that_is_not_utf8_is_400_not_500(wsgi, caplog) -> None:
    body = b"text=\xff\xfe&command=%2Frun-report"
    answer = call(wsgi, body, signed(body))
    assert answer.code == 400, (answer.code, answer.body)
    assert not long_lines(caplog), long_lines(caplog)


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b"payload=%7Bnot+json", FORM),
        (b"payload=%5B%5D", FORM),
        (b"command=%2Frun-report&text=ping", "text/plain"),
        (b"command=%2Frun-report&text=ping", "multipart/form-data; boundary=x"),
        (b"", FORM),
        (json.dumps({"type": "no\nsuch\n" * 100}).encode(), "application/json"),
    ],
    ids=[
        "bad-json",
        "json-list",
        "deep-json",
        "bad-payload",
        "payload-list",
        "text-plain",
        "multipart",
        "empty",
        "unknown-multiline-type",
    ],
)
def test_a_signed_malformed_request_is_400_never_500(wsgi, caplog, body: bytes, content_type: str) -> None:
    answer = call(wsgi, body, signed(body, content_type))
    assert 400 <= answer.code < 500, (answer.code, answer.body)
    assert not long_lines(caplog), long_lines(caplog)


def test_only_post_is_served_at_the_events_path(wsgi) -> None:
    assert call(wsgi, b"", method="GET").code == 405


# ------------------------------------------------------------------ the fuzz


_HEADER_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)
_CONTENT_TYPE = (
    st.sampled_from(
        [
            FORM,
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "multipart/form-data",
            "application/x-www-form-urlencoded; charset=latin-1",
        ]
    )
    | _HEADER_VALUE
)
_FORM_BODY = st.dictionaries(
    st.sampled_from(["payload", "text", "command", "user_id", "channel_id", "ssl_check", "type", "user_name"])
    | st.text(max_size=10),
    st.text(max_size=60)
    | st.sampled_from(["/run-report", "payload", "{}", "[]", '{"type":"block_actions"}', "1"]),
    max_size=8,
).map(lambda form: urllib.parse.urlencode(form).encode())
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "event", "actions", "view", "user", "challenge", "payload"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_SLACKISH_JSON = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "url_verification",
                "event_callback",
                "block_actions",
                "view_submission",
                "shortcut",
                "app_rate_limited",
            ]
        )
        | st.text(max_size=10)
    },
    optional={
        "event": _JSON,
        "actions": _JSON,
        "challenge": _JSON,
        "user": _JSON,
        "channel": _JSON,
        "view": _JSON,
        "team": _JSON,
    },
)
_CLICK = st.builds(
    lambda action, value, user, channel: {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "team": {"id": "T0TEST"},
        "response_url": "http://127.0.0.1:9/response/x",
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value}],
    },
    st.sampled_from(["reportbot_cancel", "reportbot_rerun", "other"]),
    st.text(max_size=20) | st.sampled_from(["payload", "deadbeef"]),
    st.text(max_size=12) | st.just("U0ALICE"),
    st.text(max_size=12) | st.just("C0HTTP"),
)
_BODY = st.one_of(
    _CLICK.map(lambda v: urllib.parse.urlencode({"payload": json.dumps(v)}).encode()),
    st.binary(max_size=2000),
    _FORM_BODY,
    st.builds(lambda text: command_form(text), st.text(max_size=200)),
    _JSON.map(lambda v: json.dumps(v).encode()),
    _SLACKISH_JSON.map(lambda v: json.dumps(v).encode()),
    _SLACKISH_JSON.map(lambda v: urllib.parse.urlencode({"payload": json.dumps(v)}).encode()),
    st.integers(MAX_BODY_BYTES - 2, MAX_BODY_BYTES + 2).map(lambda n: b"a" * n),
)


# The clicks' after-ack work (on other threads) draws job ids from `random` while Hypothesis
# draws the next example, which Hypothesis reports as a strategy using `random`.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    body=_BODY,
    content_type=_CONTENT_TYPE,
    how=st.sampled_from(["signed", "unsigned", "stale", "odd-headers"]),
    odd=st.dictionaries(
        st.sampled_from(
            ["X-Slack-Request-Timestamp", "X-Slack-Signature", "X-Slack-Retry-Num", "Content-Length"]
        ),
        _HEADER_VALUE,
        max_size=3,
    ),
)
def test_whatever_arrives_the_answer_is_never_5xx_slow_or_loud(
    wsgi, caplog, body, content_type, how, odd
) -> None:
    caplog.clear()
    headers = {"Content-Type": content_type}
    content_length = None
    if how == "signed":
        headers.update(signed(body, content_type))
    elif how == "stale":
        headers.update(signed(body, content_type, timestamp=str(int(time.time()) - 600)))
    elif how == "odd-headers":
        headers.update(signed(body, content_type))
        content_length = odd.pop("Content-Length", None)
        headers.update(odd)
    answer = call(wsgi, body, headers, content_length=content_length)
    assert answer.code < 500, (answer.code, answer.body[:200])
    assert answer.elapsed < 3.0
    assert not long_lines(caplog), long_lines(caplog)


# ------------------------------------------- what Slack really sends is accepted (pure)

_REAL_BODIES = {
    "block_actions": {
        "type": "block_actions",
        "user": {"id": "U1", "username": "a", "name": "a", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "t",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1", "is_ephemeral": False},
        "trigger_id": "1.2.x",
        "team": {"id": "T1", "domain": "d"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C1", "name": "general"},
        "message": {
            "bot_id": "B1",
            "type": "message",
            "text": "x",
            "user": "U2",
            "ts": "1.2",
            "team": "T1",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [
            {
                "action_id": "reportbot_rerun",
                "block_id": "b",
                "text": {"type": "plain_text", "text": "Run"},
                "value": "deadbeef",
                "type": "button",
                "action_ts": "1.3",
            }
        ],
    },
    "view_submission": {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "d", "enterprise_id": "E1"},
        "user": {"id": "U1", "username": "a", "team_id": "T1"},
        "view": {
            "id": "V1",
            "team_id": "T1",
            "type": "modal",
            "callback_id": "cb",
            "hash": "h",
            "state": {"values": {"b": {"a": {"type": "plain_text_input", "value": "payload"}}}},
            "previous_view_id": None,
            "root_view_id": "V1",
            "app_installed_team_id": "T1",
            "bot_id": "B1",
        },
        "response_urls": [],
        "enterprise": {"id": "E1", "name": "e"},
    },
    "dialog_submission": {
        "type": "dialog_submission",
        "callback_id": "c",
        "state": "a string",
        "submission": {},
        "user": {"id": "U1"},
        "channel": {"id": "C1"},
        "team": {"id": "T1"},
    },
    "message_changed": {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event_id": "Ev1",
        "event_time": 1,
        "is_ext_shared_channel": True,
        "event_context": "x",
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": "T1",
                "user_id": "U9",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "event": {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "hidden": True,
            "ts": "1.3",
            "message": {
                "type": "message",
                "user": "U1",
                "text": "new",
                "ts": "1.2",
                "edited": {"user": "U1", "ts": "1.3"},
            },
            "previous_message": {"type": "message", "user": "U1", "text": "old", "ts": "1.2"},
        },
    },
    "channel_created": {
        "type": "event_callback",
        "team_id": "T1",
        "event": {
            "type": "channel_created",
            "channel": {"id": "C1", "name": "x", "created": 1, "creator": "U1"},
        },
    },
    "user_change": {
        "type": "event_callback",
        "team_id": "T1",
        "event": {
            "type": "user_change",
            "user": {"id": "U1", "team_id": "T1", "deleted": False, "profile": {"real_name": "a"}},
        },
    },
    "reaction_added": {
        "type": "event_callback",
        "team_id": "T1",
        "event": {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "+1",
            "item_user": "U2",
            "item": {"type": "message", "channel": "C1", "ts": "1.2"},
            "event_ts": "1.4",
        },
    },
    "app_home_opened": {
        "type": "event_callback",
        "team_id": "T1",
        "event": {
            "type": "app_home_opened",
            "user": "U1",
            "channel": "D1",
            "tab": "home",
            "view": {"id": "V1", "type": "home"},
        },
    },
}


@pytest.mark.parametrize("kind", sorted(_REAL_BODIES))
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_the_bodies_slack_sends_are_parsed_whole(kind: str, form: bool) -> None:
    body = _REAL_BODIES[kind]
    if form:
        assert parse_body(urllib.parse.urlencode({"payload": json.dumps(body)}), FORM) == body
    else:
        assert parse_body(json.dumps(body), "application/json") == body


def test_a_slash_command_and_an_ssl_check_are_parsed_as_forms() -> None:
    assert parse_body(command_form("echo payload=1").decode(), FORM)["text"] == "echo payload=1"
    assert parse_body("ssl_check=1&token=t", FORM) == {"ssl_check": "1", "token": "t"}
