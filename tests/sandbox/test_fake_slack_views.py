"""The fake Slack's modals, Home tab, shortcuts and events, driven by the real slack_sdk clients.

Each Slack rule the bot's forms and Home tab rely on is pinned here: trigger ids (unknown, used
twice, older than 3 s on the workspace clock), the push limit, the view limits, ``hash``, and
what Slack does with each ``response_action`` of a view_submission's ack. Deliveries go to a
tiny endpoint that verifies Slack's signature, or to a Socket Mode client, or to the bot's own
HTTP endpoint around a Bolt app.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from sandbox import FakeSlack

pytestmark = pytest.mark.unit

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)

SECRET = "s3cret"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"

Reply = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    slack = FakeSlack(signing_secret=SECRET).start()
    yield slack
    slack.stop()


@pytest.fixture
def slack(server: FakeSlack) -> FakeSlack:
    server.reset()
    server.bot_url = None
    return server


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(BOT_TOKEN, base_url=slack.api_url)


class Bot:
    """A stand-in bot endpoint: verifies the signature, parses the form or JSON body Slack sent,
    and answers ``reply(body)`` as JSON (None: an empty 200)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.received: list[dict[str, Any]] = []
        verifier = SignatureVerifier(SECRET)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                if "json" in headers.get("Content-Type", ""):
                    body = json.loads(raw)
                else:
                    form = dict(urllib.parse.parse_qsl(raw.decode()))
                    body = json.loads(form["payload"]) if "payload" in form else form
                valid = verifier.is_valid_request(raw, headers)
                outer.received.append({"body": body, "headers": headers, "valid": valid})
                answer = outer.reply(body) if valid else {"error": "invalid signature"}
                data = b"" if answer is None else json.dumps(answer).encode()
                try:
                    self.send_response(200 if valid else 401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:  # Slack stopped waiting (a test of a late ack)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/slack/events"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def bot(slack: FakeSlack) -> Iterator[Callable[[Reply], Bot]]:
    made: list[Bot] = []

    def make(reply: Reply) -> Bot:
        b = Bot(reply)
        made.append(b)
        slack.bot_url = b.url
        return b

    yield make
    for b in made:
        b.close()


def modal(
    title: str = "Run a report", *, blocks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": blocks if blocks is not None else [section("Pick a report")],
    }
    return {**view, **extra}


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    return {**block, "block_id": block_id} if block_id else block


def text_input(block_id: str = "days", action_id: str = "value") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "Days"},
        "element": {"type": "plain_text_input", "action_id": action_id},
    }


SUBMIT = {"type": "plain_text", "text": "Run"}


def error_of(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


# ------------------------------------------------------------- trigger ids


def test_views_open_answers_the_view_and_refuses_unknown_and_reused_triggers(
    slack: FakeSlack, client: WebClient
) -> None:
    trigger = slack.views.mint_trigger("U0ALICE")
    view = client.views_open(trigger_id=trigger, view=modal(callback_id="run", private_metadata="C0TEST"))[
        "view"
    ]
    assert view["id"].startswith("V") and view["hash"] and view["root_view_id"] == view["id"]
    assert view["state"] == {"values": {}} and view["callback_id"] == "run"
    [shown] = slack.open_views("U0ALICE")
    assert shown["id"] == view["id"] and shown["errors"] == {} and shown["private_metadata"] == "C0TEST"
    assert shown["title"]["text"] == "Run a report"

    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == "exchanged_trigger_id"
    assert error_of(lambda: client.views_open(trigger_id="1.2.nope", view=modal())) == "invalid_trigger_id"
    assert slack.open_views("U0BOB") == []


def test_trigger_expires_after_3_seconds_on_the_workspace_clock() -> None:
    now = [time.time()]
    slack = FakeSlack(signing_secret=SECRET, clock=lambda: now[0]).start()
    try:
        client = WebClient(BOT_TOKEN, base_url=slack.api_url)
        fresh, stale = slack.views.mint_trigger("U0ALICE"), slack.views.mint_trigger("U0ALICE")
        now[0] += 2.9
        client.views_open(trigger_id=fresh, view=modal())
        now[0] += 0.2
        assert error_of(lambda: client.views_open(trigger_id=stale, view=modal())) == "expired_trigger_id"
    finally:
        slack.stop()


def test_a_command_and_a_click_carry_triggers_that_open_views(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)
    slack.send_command("/run-report", "")
    slack.send_interaction({"actions": [{"type": "button", "action_id": "report_form.open", "value": ""}]})
    triggers = [r["body"].get("trigger_id") for r in b.received]
    assert len(triggers) == 2 and all(triggers)
    for trigger in triggers:
        client.views_open(trigger_id=trigger, view=modal())


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        (modal("x" * 25), "/view/title/text"),
        (modal(close={"type": "plain_text", "text": "c" * 25}), "/view/close/text"),
        (modal(submit={"type": "plain_text", "text": "s" * 25}), "/view/submit/text"),
        (modal(blocks=[section(f"row {i}") for i in range(101)]), "/view/blocks"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (modal(callback_id="c" * 256), "/view/callback_id"),
        (modal(blocks=[text_input()]), "/view/submit"),
        ({"type": "modal", "blocks": []}, "/view/title"),
        ({"type": "home", "blocks": []}, "/view/type"),
    ],
)
def test_views_over_slacks_limits_are_invalid_arguments(
    slack: FakeSlack, client: WebClient, view: dict[str, Any], problem: str
) -> None:
    trigger = slack.views.mint_trigger("U0ALICE")
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id=trigger, view=view)
    assert caught.value.response["error"] == "invalid_arguments"
    assert any(problem in m for m in caught.value.response["response_metadata"]["messages"])
    assert slack.open_views("U0ALICE") == []
    # a refused view does not use the trigger up
    client.views_open(trigger_id=trigger, view=modal(blocks=[section(f"r{i}") for i in range(100)]))


def test_a_view_may_hold_100_blocks_where_a_message_holds_50(slack: FakeSlack, client: WebClient) -> None:
    blocks = [section(f"row {i}") for i in range(100)]
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": blocks})
    assert (
        error_of(lambda: client.chat_postMessage(channel="C0TEST", text="x", blocks=blocks))
        == "invalid_blocks"
    )


# -------------------------------------------------------- push / update / publish


def test_push_stacks_up_to_three_views(slack: FakeSlack, client: WebClient) -> None:
    root = client.views_open(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal("one"))["view"]
    second = client.views_push(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal("two"))["view"]
    third = client.views_push(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal("three"))["view"]
    assert (second["root_view_id"], second["previous_view_id"]) == (root["id"], root["id"])
    assert (third["root_view_id"], third["previous_view_id"]) == (root["id"], second["id"])
    fourth = slack.views.mint_trigger("U0ALICE")
    assert error_of(lambda: client.views_push(trigger_id=fourth, view=modal("four"))) == "push_limit_reached"
    assert [v["title"]["text"] for v in slack.open_views("U0ALICE")] == ["one", "two", "three"]


def test_update_by_id_or_external_id_checks_the_hash(slack: FakeSlack, client: WebClient) -> None:
    view = client.views_open(
        trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal(external_id="form-1")
    )["view"]
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=modal("Step 2"))["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    stale = view["hash"]
    assert (
        error_of(lambda: client.views_update(view_id=view["id"], hash=stale, view=modal())) == "hash_conflict"
    )
    client.views_update(external_id="form-1", view=modal("Step 3", external_id="form-1"))
    assert slack.open_views("U0ALICE")[0]["title"]["text"] == "Step 3"
    assert error_of(lambda: client.views_update(view_id="V404", view=modal())) == "not_found"
    too_long = modal("t" * 30)
    assert error_of(lambda: client.views_update(view_id=view["id"], view=too_long)) == "invalid_arguments"


def test_publish_stores_the_users_home_and_refuses_submit_and_stale_hash(
    slack: FakeSlack, client: WebClient
) -> None:
    assert slack.home("U0ALICE") is None
    home = {"type": "home", "blocks": [section("*Your schedules*")]}
    first = client.views_publish(user_id="U0ALICE", view=home)["view"]
    assert first["type"] == "home" and slack.home("U0ALICE") == first
    second = client.views_publish(user_id="U0ALICE", hash=first["hash"], view=home)["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    assert (
        error_of(lambda: client.views_publish(user_id="U0ALICE", hash=first["hash"], view=home))
        == "hash_conflict"
    )
    with_submit = {**home, "submit": SUBMIT}
    assert error_of(lambda: client.views_publish(user_id="U0ALICE", view=with_submit)) == "invalid_arguments"
    assert slack.home("U0BOB") is None


# ------------------------------------------------------------ view_submission


def open_form(slack: FakeSlack, client: WebClient, user: str = "U0ALICE") -> dict[str, Any]:
    view = modal(
        blocks=[text_input()], submit=SUBMIT, callback_id="run_form", private_metadata='{"c":"C0TEST"}'
    )
    return dict(client.views_open(trigger_id=slack.views.mint_trigger(user), view=view)["view"])


VALUES = {"days": {"value": {"type": "plain_text_input", "value": "7"}}}


def test_submit_sends_a_signed_view_submission_and_a_plain_ack_closes_the_view(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)
    view = open_form(slack, client)
    resp = slack.submit_view(view["id"], VALUES)
    assert resp.ok and resp.body is None
    [got] = b.received
    assert got["valid"]
    body = got["body"]
    assert body["type"] == "view_submission" and body["user"]["id"] == "U0ALICE"
    assert body["team"]["id"] and body["api_app_id"] and body["trigger_id"] and body["response_urls"] == []
    assert body["view"]["id"] == view["id"] and body["view"]["callback_id"] == "run_form"
    assert body["view"]["private_metadata"] == '{"c":"C0TEST"}' and body["view"]["hash"] == view["hash"]
    assert body["view"]["state"]["values"] == VALUES
    assert slack.open_views("U0ALICE") == []


def test_response_action_errors_are_shown_on_the_view(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    bot(lambda body: {"response_action": "errors", "errors": {"days": "Days must be a whole number"}})
    view = open_form(slack, client)
    assert slack.submit_view(view["id"], VALUES).ok
    [still_open] = slack.open_views("U0ALICE")
    assert still_open["errors"] == {"days": "Days must be a whole number"}
    assert still_open["state"]["values"] == VALUES


def test_response_action_update_push_and_clear(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    answers: list[Any] = [
        {"response_action": "update", "view": modal("Checked")},
        {"response_action": "push", "view": modal("Confirm", blocks=[text_input()], submit=SUBMIT)},
        {"response_action": "clear"},
    ]
    bot(lambda body: answers.pop(0))
    view = open_form(slack, client)
    slack.submit_view(view["id"], VALUES)
    [updated] = slack.open_views("U0ALICE")
    assert updated["id"] == view["id"] and updated["title"]["text"] == "Checked"
    slack.submit_view(view["id"], {})
    assert [v["title"]["text"] for v in slack.open_views("U0ALICE")] == ["Checked", "Confirm"]
    pushed = slack.open_views("U0ALICE")[1]
    slack.submit_view(pushed["id"], VALUES)
    assert slack.open_views("U0ALICE") == []


def test_a_plain_ack_on_a_pushed_view_goes_back_to_the_one_below(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    bot(lambda body: None)
    root = open_form(slack, client)
    pushed = client.views_push(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal("Pushed"))["view"]
    slack.submit_view(pushed["id"], {})
    assert [v["id"] for v in slack.open_views("U0ALICE")] == [root["id"]]


def test_an_ack_slack_would_refuse_leaves_the_view_with_the_error(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    bot(lambda body: {"response_action": "update", "view": modal("x" * 40)})
    view = open_form(slack, client)
    slack.submit_view(view["id"], VALUES)
    [same] = slack.open_views("U0ALICE")
    assert same["title"]["text"] == "Run a report" and same["errors"] == {"": "invalid_arguments"}


# ------------------------------------------ clicks in views, shortcuts, Home


def test_view_action_home_action_and_shortcut_carry_triggers(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)
    report_select = {
        "type": "section",
        "block_id": "report",
        "text": {"type": "mrkdwn", "text": "Report"},
        "accessory": {
            "type": "static_select",
            "action_id": "pick",
            "options": [{"text": {"type": "plain_text", "text": "Sales"}, "value": "sales"}],
        },
    }
    view = client.views_open(
        trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal(blocks=[report_select])
    )["view"]
    slack.view_action(view["id"], "report", "pick", "sales", values=VALUES)
    action_body = b.received[-1]["body"]
    assert action_body["type"] == "block_actions" and action_body["container"] == {
        "type": "view",
        "view_id": view["id"],
    }
    assert action_body["view"]["state"]["values"] == VALUES
    [action] = action_body["actions"]
    assert action["block_id"] == "report" and action["selected_option"]["value"] == "sales"
    client.views_push(trigger_id=action_body["trigger_id"], view=modal("Details"))

    home = {
        "type": "home",
        "blocks": [
            {
                "type": "actions",
                "block_id": "top",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "report_form.open",
                        "text": {"type": "plain_text", "text": "Run"},
                    }
                ],
            }
        ],
    }
    client.views_publish(user_id="U0BOB", view=home)
    slack.home_action("U0BOB", "report_form.open", "")
    home_body = b.received[-1]["body"]
    assert home_body["view"]["type"] == "home" and home_body["container"]["type"] == "view"
    assert home_body["user"]["id"] == "U0BOB" and home_body["actions"][0]["type"] == "button"
    client.views_open(trigger_id=home_body["trigger_id"], view=modal())
    assert len(slack.open_views("U0BOB")) == 1

    slack.send_shortcut("run_report", user="U0CAROL")
    shortcut = b.received[-1]["body"]
    assert (
        shortcut["type"] == "shortcut"
        and shortcut["callback_id"] == "run_report"
        and "channel" not in shortcut
    )
    client.views_open(trigger_id=shortcut["trigger_id"], view=modal())
    assert len(slack.open_views("U0CAROL")) == 1


# ------------------------------------------------------------------ events


def test_event_over_http_is_signed_json_event_callback(slack: FakeSlack, bot: Callable[[Reply], Bot]) -> None:
    b = bot(lambda body: None)
    resp = slack.send_event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    assert resp.ok
    [got] = b.received
    assert got["valid"] and got["headers"]["Content-Type"] == "application/json"
    body = got["body"]
    assert body["type"] == "event_callback" and body["team_id"] and body["api_app_id"]
    assert body["event_id"].startswith("Ev") and isinstance(body["event_time"], int)
    assert body["event"]["type"] == "app_home_opened" and body["event"]["event_ts"]
    assert body["authorizations"][0]["user_id"] == "U0BOT" and body["authorizations"][0]["is_bot"]

    slack.send_event({"type": "channel_left", "channel": "C0X"}, retry=(1, "http_timeout"))
    assert b.received[-1]["headers"]["X-Slack-Retry-Num"] == "1"


def test_open_home_archive_and_remove_bot(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)
    slack.open_home("U0ALICE")
    assert b.received[-1]["body"]["event"]["tab"] == "home" and "view" not in b.received[-1]["body"]["event"]
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [section("hi")]})
    slack.open_home("U0ALICE")
    assert b.received[-1]["body"]["event"]["view"]["type"] == "home"

    slack.set_channel("C0ARCH", name="sales")
    slack.archive_channel("C0ARCH")
    assert b.received[-1]["body"]["event"] == {
        "type": "channel_archive",
        "channel": "C0ARCH",
        "user": "U0ALICE",
        "event_ts": b.received[-1]["body"]["event"]["event_ts"],
    }
    assert error_of(lambda: client.chat_postMessage(channel="C0ARCH", text="x")) == "is_archived"
    info = client.conversations_info(channel="C0ARCH")["channel"]
    assert info["name"] == "sales" and info["is_archived"] is True

    slack.remove_bot("C0GONE")
    assert b.received[-1]["body"]["event"]["type"] == "channel_left"
    assert error_of(lambda: client.chat_postMessage(channel="C0GONE", text="x")) == "not_in_channel"
    assert client.conversations_info(channel="C0GONE")["channel"]["is_member"] is False


def test_event_over_socket_mode_is_an_events_api_envelope(slack: FakeSlack) -> None:
    web = WebClient(BOT_TOKEN, base_url=slack.api_url)
    sm = SocketModeClient(app_token=APP_TOKEN, web_client=web)
    seen: list[SocketModeRequest] = []

    def listener(c: BaseSocketModeClient, req: SocketModeRequest) -> None:
        seen.append(req)
        c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    sm.socket_mode_request_listeners.append(listener)
    sm.connect()
    try:
        assert slack.socket_connected(timeout=5)
        assert slack.archive_channel("C0SOCK").ok  # no bot_url: Socket Mode
        [req] = seen
        assert req.type == "events_api" and req.payload["type"] == "event_callback"
        assert req.payload["event"]["type"] == "channel_archive"
        assert slack.send_shortcut("run_report", mode="socket").ok
        assert seen[-1].type == "interactive" and seen[-1].payload["type"] == "shortcut"
    finally:
        sm.close()


# ---------------------------------------------------- the bot's own endpoint


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bolt_endpoint(slack: FakeSlack) -> Iterator[Any]:
    """The bot's HTTP endpoint (`bot.http.make_wsgi`) around a Bolt app made as `bot.app` makes
    it (its `_bolt_app` and `_on_error`), with one event listener, served on a free port."""
    from slack_bolt import App

    from bot.app import _bolt_app, _on_error
    from bot.http import make_wsgi
    from tasks.settings import Settings
    from tasks.slack.web_api import WebApi

    settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET, slack_api_url=slack.api_url)
    app: App = _bolt_app(WebApi(WebClient(BOT_TOKEN, base_url=slack.api_url)), settings)
    app.error(_on_error)
    heard: list[dict[str, Any]] = []
    app.event("app_home_opened")(lambda event: heard.append(event))
    httpd = make_server("127.0.0.1", 0, make_wsgi(app, signing_secret=SECRET), handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    slack.bot_url = f"http://127.0.0.1:{httpd.server_port}/slack/events"
    try:
        yield heard
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_bots_endpoint_takes_events_and_answers_an_unheard_one_404_not_500(
    slack: FakeSlack, bolt_endpoint: list[dict[str, Any]]
) -> None:
    heard = bolt_endpoint
    assert slack.open_home("U0ALICE").status == 200
    assert [e["user"] for e in heard] == ["U0ALICE"]
    unheard = slack.send_event({"type": "channel_archive", "channel": "C0X", "user": "U0ALICE"})
    assert unheard.status == 404 and unheard.error == "http_client_error"
    forged = slack._deliver(
        {},
        "events_api",
        False,
        "http",
        None,
        "not-the-secret",
        None,
        3.0,
        socket_payload={"type": "event_callback", "event": {"type": "app_home_opened", "user": "U0EVE"}},
        json_body=True,
    )
    assert forged.status == 401 and len(heard) == 1


def test_the_bots_endpoint_answers_url_verification(
    slack: FakeSlack, bolt_endpoint: list[dict[str, Any]]
) -> None:
    resp = slack._deliver(
        {},
        "events_api",
        False,
        "http",
        None,
        None,
        None,
        3.0,
        socket_payload={
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        },
        json_body=True,
    )
    assert resp.status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in json.dumps(resp.body)


def test_closing_a_modal_sends_view_closed_only_when_asked(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)
    quiet = client.views_open(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal())["view"]
    assert slack.close_view(quiet["id"]) is None and slack.open_views("U0ALICE") == []
    root = client.views_open(
        trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal(notify_on_close=True, callback_id="form")
    )["view"]
    client.views_push(trigger_id=slack.views.mint_trigger("U0ALICE"), view=modal("Pushed"))
    assert "modal" in slack.dump() and "'form'" in slack.dump()
    resp = slack.close_view(root["id"])
    assert resp is not None and resp.ok
    closed = b.received[-1]["body"]
    assert (
        closed["type"] == "view_closed" and closed["view"]["callback_id"] == "form" and closed["is_cleared"]
    )
    assert slack.open_views("U0ALICE") == []


def test_publish_with_the_home_tab_off_is_not_enabled(slack: FakeSlack, client: WebClient) -> None:
    slack.views.home_tab_enabled = False
    home = {"type": "home", "blocks": [section("hi")]}
    assert error_of(lambda: client.views_publish(user_id="U0ALICE", view=home)) == "not_enabled"
    slack.reset()
    client.views_publish(user_id="U0ALICE", view=home)


def test_errors_naming_a_block_that_is_no_input_are_refused(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    bot(lambda body: {"response_action": "errors", "errors": {"not-a-block": "Wrong"}})
    view = open_form(slack, client)
    slack.submit_view(view["id"], VALUES)
    assert slack.open_views("U0ALICE")[0]["errors"] == {"": "invalid_arguments"}


def test_home_action_finds_the_row_whose_element_offers_the_value(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    b = bot(lambda body: None)

    def row(schedule_id: str) -> dict[str, Any]:
        return {
            "type": "section",
            "block_id": f"row-{schedule_id}",
            "text": {"type": "mrkdwn", "text": schedule_id},
            "accessory": {
                "type": "overflow",
                "action_id": "home.schedule",
                "options": [
                    {"text": {"type": "plain_text", "text": "Pause"}, "value": f"pause:{schedule_id}"},
                    {"text": {"type": "plain_text", "text": "Remove"}, "value": f"remove:{schedule_id}"},
                ],
            },
        }

    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [row("s1"), row("s2")]})
    slack.home_action("U0ALICE", "home.schedule", "remove:s2")
    [action] = b.received[-1]["body"]["actions"]
    assert action["type"] == "overflow" and action["block_id"] == "row-s2"
    assert action["selected_option"] == {
        "text": {"type": "plain_text", "text": "Remove"},
        "value": "remove:s2",
    }
    slack.home_action("U0ALICE", "home.schedule", "remove:forged")  # still sent, as a tampered payload
    assert b.received[-1]["body"]["actions"][0]["selected_option"]["value"] == "remove:forged"
    with pytest.raises(ValueError):
        slack.home_action("U0ALICE", "no.such.action", "x")


def test_bolt_over_socket_mode_hears_events_and_its_errors_ack_reaches_the_view(
    slack: FakeSlack, client: WebClient
) -> None:
    from slack_bolt import Ack, App
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = App(client=WebClient(BOT_TOKEN, base_url=slack.api_url), process_before_response=True)
    heard: list[str] = []
    app.event("channel_left")(lambda event: heard.append(event["channel"]))

    @app.view("run_form")
    def on_submit(ack: Ack, view: dict[str, Any]) -> None:
        days = view["state"]["values"]["days"]["value"]["value"]
        ack(response_action="errors", errors={"days": f"{days} is not a number of days"})

    handler = SocketModeHandler(app, APP_TOKEN)
    handler.client.web_client = WebClient(APP_TOKEN, base_url=slack.api_url)
    handler.connect()
    try:
        assert slack.socket_connected(timeout=5)
        assert slack.remove_bot("C0LEFT").ok
        slack.wait_for(lambda: heard == ["C0LEFT"], timeout=5)
        view = open_form(slack, client)
        values = {"days": {"value": {"type": "plain_text_input", "value": "many"}}}
        assert slack.submit_view(view["id"], values, mode="socket").ok
        assert slack.open_views("U0ALICE")[0]["errors"] == {"days": "many is not a number of days"}
    finally:
        handler.close()


def test_a_submission_the_bot_does_not_ack_in_time_leaves_the_view_open(
    slack: FakeSlack, client: WebClient, bot: Callable[[Reply], Bot]
) -> None:
    bot(lambda body: time.sleep(0.5))
    view = open_form(slack, client)
    resp = slack.submit_view(view["id"], VALUES, timeout=0.2)
    assert resp.error == "operation_timeout"
    assert slack.open_views("U0ALICE")[0]["errors"] == {"": "operation_timeout"}
