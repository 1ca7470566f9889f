"""The sandbox page's endpoints on the tests' own fake Slack (one implementation, not two).

The real slack_sdk client changes the workspace; the page's JSON, file and event endpoints must
show it as a person in the channel would see it.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.page import SANDBOX_CHANNEL, split_command
from tests.sandbox.stand_in_bot import stand_in_bot
from tests.support import BOT_TOKEN

pytestmark = pytest.mark.unit

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(slack: Any, path: str) -> tuple[int, str, bytes]:
    with OPENER.open(slack.base_url + path.lstrip("/"), timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read()


def state(slack: Any) -> dict[str, Any]:
    return json.loads(get(slack, "/sandbox/state")[2])


def sandbox_messages(slack: Any) -> list[dict[str, Any]]:
    return next(c for c in state(slack)["channels"] if c["id"] == SANDBOX_CHANNEL)["messages"]


@pytest.fixture
def client(slack: Any) -> WebClient:
    return WebClient(BOT_TOKEN, base_url=slack.api_url)


def test_the_state_shows_threads_under_their_parent_and_edits(slack: Any, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=SANDBOX_CHANNEL, text="status: running")
    client.chat_postMessage(channel=SANDBOX_CHANNEL, text="the result", thread_ts=parent["ts"])
    client.chat_update(channel=SANDBOX_CHANNEL, ts=parent["ts"], text="status: done")

    messages = sandbox_messages(slack)
    assert [m["text"] for m in messages] == ["status: done"]
    assert messages[0]["edited"] is True
    assert [r["text"] for r in messages[0]["replies"]] == ["the result"]
    assert state(slack)["users"]["U0BOT"] == "reportbot"


def test_an_ephemeral_is_shown_to_its_user_only(slack: Any, client: WebClient) -> None:
    client.chat_postEphemeral(channel=SANDBOX_CHANNEL, user="U0SANDBOX", text="just for you")
    client.chat_postEphemeral(channel=SANDBOX_CHANNEL, user="U0OTHER", text="not for you")
    shown = sandbox_messages(slack)
    assert [(m["kind"], m["text"]) for m in shown] == [("ephemeral", "just for you")]


def test_an_uploaded_png_is_served_as_an_image(slack: Any, client: WebClient) -> None:
    client.files_upload_v2(content=PNG, filename="chart.png", title="A chart", channel=SANDBOX_CHANNEL)
    [message] = sandbox_messages(slack)
    [file] = message["files"]
    assert (file["name"], file["title"], file["mimetype"]) == ("chart.png", "A chart", "image/png")
    status, ctype, body = get(slack, file["url"])
    assert (status, ctype, body) == (200, "image/png", PNG)
    with pytest.raises(urllib.error.HTTPError) as err:
        get(slack, "/sandbox/files/F_NOPE")
    assert err.value.code == 404


def test_every_visible_change_is_pushed_as_a_server_sent_event(slack: Any, client: WebClient) -> None:
    with OPENER.open(slack.base_url + "sandbox/events", timeout=5) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = iter(stream.readline, b"")
        assert b'"hello"' in next(line for line in lines if line.startswith(b"data:"))
        client.auth_test()  # a Web API call that changes nothing a person sees: no event
        client.chat_postMessage(channel=SANDBOX_CHANNEL, text="hi")
        event = json.loads(next(line for line in lines if line.startswith(b"data:"))[5:])
    assert event == {"type": "message", "channel": SANDBOX_CHANNEL}


def test_static_files_outside_the_page_are_not_served(slack: Any) -> None:
    for path in ("/static/..%2Fpage.py", "/static/page.py", "/static/.hidden.js"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(slack, path)
        assert err.value.code == 404, path


def test_a_permalink_the_bot_hands_out_opens_the_page(slack: Any, client: WebClient) -> None:
    """`/archives/<channel>/p<ts>` is where Slack's message links point (`history`'s thread links):
    the sandbox answers them with its page, which opens that channel at that message."""
    parent = client.chat_postMessage(channel=SANDBOX_CHANNEL, text="status: done")
    reply = client.chat_postMessage(channel=SANDBOX_CHANNEL, text="the result", thread_ts=parent["ts"])
    index = get(slack, "/")[2]
    for path in (
        f"/archives/{SANDBOX_CHANNEL}/p{parent['ts'].replace('.', '')}",
        f"/archives/{SANDBOX_CHANNEL}/p{reply['ts'].replace('.', '')}?thread_ts={parent['ts']}",
        f"/archives/{SANDBOX_CHANNEL}",
    ):
        status, kind, body = get(slack, path)
        assert (status, kind.split(";")[0], body) == (200, "text/html", index), path
    for path in (f"/archives/{SANDBOX_CHANNEL}/x1", "/archives/c0sandbox", "/archives/"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(slack, path)
        assert err.value.code == 404, path


def test_typed_text_is_split_into_command_and_text_as_slack_does() -> None:
    assert split_command("/run-report  sales region=emea ") == ("/run-report", "sales region=emea")
    assert split_command("/run-report") == ("/run-report", "")


def post(slack: Any, path: str, body: bytes, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(
        slack.base_url + path.lstrip("/"), data=body, headers=headers, method="POST"
    )
    try:
        with OPENER.open(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_another_web_page_cannot_type_in_the_sandbox(slack: Any) -> None:
    """Any site a person visits can POST to 127.0.0.1; the page's endpoints must refuse it."""
    typed = json.dumps({"text": "typed by evil.example"}).encode()
    port = slack.port
    # a no-cors "simple" request: text/plain needs no preflight
    assert post(slack, "/sandbox/command", typed, **{"Content-Type": "text/plain"})[0] == 415
    assert post(slack, "/sandbox/action", typed, **{"Content-Type": "text/plain;charset=UTF-8"})[0] == 415
    # a page elsewhere, and one whose name was made to resolve to 127.0.0.1 (DNS rebinding)
    for origin, host in (
        ("https://evil.example", f"127.0.0.1:{port}"),
        ("null", f"127.0.0.1:{port}"),
        (f"http://evil.example:{port}", f"evil.example:{port}"),
    ):
        status, text = post(
            slack,
            "/sandbox/command",
            typed,
            **{"Content-Type": "application/json", "Origin": origin, "Host": host},
        )
        assert (status, text) == (403, "only the sandbox page itself may send commands"), origin
    assert sandbox_messages(slack) == []
    # the page itself, opened as http://127.0.0.1:<port>/ or http://localhost:<port>/
    for origin, host in (
        (f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
        (f"http://localhost:{port}", f"localhost:{port}"),
    ):
        status, _ = post(
            slack,
            "/sandbox/command",
            typed,
            **{"Content-Type": "application/json", "Origin": origin, "Host": host},
        )
        assert status == 200, origin
    assert [m["text"] for m in sandbox_messages(slack)] == ["typed by evil.example"] * 2


# ---------------------------------------------------------------- modals, Home, shortcuts, events


def send(slack: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
    """POST ``body`` as the page does; the JSON answer (or the error text)."""
    status, text = post(slack, path, json.dumps(body).encode(), **{"Content-Type": "application/json"})
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def open_modal(slack: Any, client: WebClient, view: dict[str, Any], user: str = "U0SANDBOX") -> str:
    """The bot opens ``view`` for ``user`` on a fresh trigger_id; its view id."""
    trigger = slack.views.mint_trigger(user)
    return str(client.views_open(trigger_id=trigger, view=view)["view"]["id"])


def option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value}, "value": value}


def input_block(block_id: str, element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": block_id},
        "element": {"action_id": "value", **element},
        **extra,
    }


FORM = {
    "type": "modal",
    "callback_id": "report_form",
    "title": {"type": "plain_text", "text": "Run a report"},
    "submit": {"type": "plain_text", "text": "Run"},
    "blocks": [
        input_block("title", {"type": "plain_text_input"}),
        input_block("days", {"type": "number_input", "is_decimal_allowed": False}),
        input_block("day", {"type": "datepicker"}),
        input_block("at", {"type": "timepicker"}),
        input_block(
            "region",
            {"type": "static_select", "options": [option("emea"), option("amer")]},
            dispatch_action=True,
        ),
        input_block("flags", {"type": "checkboxes", "options": [option("csv"), option("chart")]}),
        input_block("channel", {"type": "conversations_select"}),
    ],
}


def test_a_modal_and_the_home_tab_are_in_the_state_and_each_change_is_streamed(
    slack: Any, client: WebClient
) -> None:
    with OPENER.open(slack.base_url + "sandbox/events", timeout=5) as stream:
        lines = iter(stream.readline, b"")
        next(line for line in lines if line.startswith(b"data:"))  # hello
        home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}]}
        client.views_publish(user_id="U0SANDBOX", view=home)
        event = json.loads(next(line for line in lines if line.startswith(b"data:"))[5:])
        assert event == {"type": "view", "channel": None, "user": "U0SANDBOX"}
        view_id = open_modal(slack, client, FORM)
        event = json.loads(next(line for line in lines if line.startswith(b"data:"))[5:])
        assert event["type"] == "view"
    shown = state(slack)
    assert shown["home"]["blocks"][0]["text"]["text"] == "Hi"
    assert [(m["id"], m["title"]["text"], m["errors"]) for m in shown["modals"]] == [
        (view_id, "Run a report", {})
    ]
    assert {"id": SANDBOX_CHANNEL, "name": "sandbox"} in shown["conversations"]
    client.chat_postMessage(channel="U0SANDBOX", text="a DM")
    assert all(c["id"][0] in "CG" for c in state(slack)["conversations"])
    assert shown["shortcuts"] and all(s["callback_id"] for s in shown["shortcuts"])


def test_submit_sends_slacks_state_values_built_from_the_form_and_shows_the_errors_ack(
    slack: Any, client: WebClient
) -> None:
    slack.set_channel("C0SALES", name="sales")
    view_id = open_modal(slack, client, FORM)
    form = {
        "title": {"value": "Q3 <b>"},
        "days": {"value": "7"},
        "day": {"value": "2026-03-29"},
        "at": {"value": ""},
        "region": {"value": "apac"},  # not offered: nothing is selected
        "flags": {"value": ["chart", "evil"]},
        "channel": {"value": "C0SALES"},
    }
    with stand_in_bot(
        slack, lambda body: {"response_action": "errors", "errors": {"days": "Too many"}}
    ) as bot:
        status, answer = send(slack, "/sandbox/view_submit", {"view_id": view_id, "values": form})
    assert (status, answer) == (200, {"ok": True, "status": 200, "error": None})
    [submission] = bot.of_type("view_submission")
    assert submission["user"]["id"] == "U0SANDBOX"
    assert submission["view"]["callback_id"] == "report_form"
    assert submission["view"]["state"]["values"] == {
        "title": {"value": {"type": "plain_text_input", "value": "Q3 <b>"}},
        "days": {"value": {"type": "number_input", "value": "7"}},
        "day": {"value": {"type": "datepicker", "selected_date": "2026-03-29"}},
        "at": {"value": {"type": "timepicker", "selected_time": None}},
        "region": {"value": {"type": "static_select", "selected_option": None}},
        "flags": {"value": {"type": "checkboxes", "selected_options": [option("chart")]}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": "C0SALES"}},
    }
    [shown] = state(slack)["modals"]
    assert shown["errors"] == {"days": "Too many"}
    assert shown["state"]["values"]["title"]["value"]["value"] == "Q3 <b>"  # kept for the re-render


def test_a_plain_ack_closes_the_modal(slack: Any, client: WebClient) -> None:
    view_id = open_modal(slack, client, FORM)
    with stand_in_bot(slack):
        assert send(slack, "/sandbox/view_submit", {"view_id": view_id, "values": {}})[0] == 200
    assert state(slack)["modals"] == []


def test_a_dispatching_input_sends_block_actions_with_the_forms_current_state(
    slack: Any, client: WebClient
) -> None:
    view_id = open_modal(slack, client, FORM)
    with stand_in_bot(slack) as bot:
        status, _ = send(
            slack,
            "/sandbox/view_action",
            {
                "view_id": view_id,
                "block_id": "region",
                "action_id": "value",
                "value": "amer",
                "values": {"region": {"value": "amer"}, "title": {"value": "draft"}},
            },
        )
    assert status == 200
    [click] = bot.of_type("block_actions")
    assert click["container"] == {"type": "view", "view_id": view_id}
    assert click["actions"][0]["selected_option"] == option("amer")
    assert click["view"]["state"]["values"]["title"] == {
        "value": {"type": "plain_text_input", "value": "draft"}
    }
    assert click["trigger_id"]  # so the bot can push a view


def test_a_home_tab_button_and_overflow_are_clicks_from_the_home_view(slack: Any, client: WebClient) -> None:
    home = {
        "type": "home",
        "blocks": [
            {
                "type": "section",
                "block_id": "sched-1",
                "text": {"type": "mrkdwn", "text": "sales, every day"},
                "accessory": {
                    "type": "overflow",
                    "action_id": "schedule.menu",
                    "options": [option("pause:1", "Pause"), option("remove:1", "Remove")],
                },
            },
            {
                "type": "actions",
                "block_id": "forms",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "report_form.open",
                        "text": {"type": "plain_text", "text": "Run…"},
                        "value": "",
                    }
                ],
            },
        ],
    }
    home_id = client.views_publish(user_id="U0SANDBOX", view=home)["view"]["id"]
    with stand_in_bot(slack) as bot:
        for block_id, action_id, value in (
            ("sched-1", "schedule.menu", "remove:1"),
            ("forms", "report_form.open", ""),
        ):
            body = {"view_id": home_id, "block_id": block_id, "action_id": action_id, "value": value}
            assert send(slack, "/sandbox/view_action", body)[0] == 200
        missing = {"view_id": home_id, "block_id": "forms", "action_id": "nope", "value": ""}
        assert send(slack, "/sandbox/view_action", missing)[0] == 404
    menu, button = bot.of_type("block_actions")
    assert menu["view"]["type"] == "home"
    assert menu["actions"][0]["type"] == "overflow"
    assert menu["actions"][0]["selected_option"] == option("remove:1", "Remove")
    assert (button["actions"][0]["type"], button["actions"][0]["action_id"]) == ("button", "report_form.open")


def test_another_users_view_is_not_the_pages_to_touch(slack: Any, client: WebClient) -> None:
    view_id = open_modal(slack, client, FORM, user="U0ALICE")
    for path in ("/sandbox/view_submit", "/sandbox/view_action", "/sandbox/view_close"):
        body = {"view_id": view_id, "block_id": "days", "action_id": "value", "values": {}}
        assert send(slack, path, body)[0] == 404, path
    assert len(slack.open_views("U0ALICE")) == 1


def test_close_sends_view_closed_only_when_the_view_asked_for_it(slack: Any, client: WebClient) -> None:
    with stand_in_bot(slack) as bot:
        quiet = open_modal(slack, client, FORM)
        assert send(slack, "/sandbox/view_close", {"view_id": quiet}) == (200, {"ok": True, "sent": False})
        noisy = open_modal(slack, client, {**FORM, "notify_on_close": True})
        assert send(slack, "/sandbox/view_close", {"view_id": noisy})[0] == 200
    [closed] = bot.of_type("view_closed")
    assert closed["view"]["id"] == noisy
    assert state(slack)["modals"] == []


def test_a_shortcut_from_the_page_is_a_global_shortcut_and_its_modal_opens(
    slack: Any, client: WebClient
) -> None:
    def open_form(body: dict[str, Any]) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=FORM)

    callback_id = state(slack)["shortcuts"][0]["callback_id"]
    with stand_in_bot(slack, open_form) as bot:
        assert send(slack, "/sandbox/shortcut", {"callback_id": callback_id})[0] == 200
        assert send(slack, "/sandbox/shortcut", {"callback_id": "not_declared"})[0] == 400
    [shortcut] = bot.of_type("shortcut")
    assert (shortcut["callback_id"], shortcut["user"]["id"]) == (callback_id, "U0SANDBOX")
    assert "channel" not in shortcut  # Slack sends none with a global shortcut
    assert [m["title"]["text"] for m in state(slack)["modals"]] == ["Run a report"]


def test_the_channel_menu_archives_the_channel_or_removes_the_bot_and_the_bot_hears_it(
    slack: Any, client: WebClient
) -> None:
    client.chat_postMessage(channel=SANDBOX_CHANNEL, text="before")
    slack.set_channel("C0SALES", name="sales")
    client.chat_postMessage(channel="C0SALES", text="digest")
    with stand_in_bot(slack) as bot:
        assert send(slack, "/sandbox/channel", {"channel": SANDBOX_CHANNEL, "event": "archive"})[0] == 200
        assert send(slack, "/sandbox/channel", {"channel": "C0SALES", "event": "remove_bot"})[0] == 200
        assert send(slack, "/sandbox/channel", {"channel": "C0SALES", "event": "delete"})[0] == 400
        assert send(slack, "/sandbox/channel", {"channel": "../x", "event": "archive"})[0] == 400
    [archive] = bot.of_type("channel_archive")
    assert archive["event"] == {**archive["event"], "channel": SANDBOX_CHANNEL, "user": "U0SANDBOX"}
    [left] = bot.of_type("channel_left")
    assert left["event"]["channel"] == "C0SALES"
    shown = {c["id"]: c for c in state(slack)["channels"]}
    assert (shown[SANDBOX_CHANNEL]["archived"], shown["C0SALES"]["bot_member"]) == (True, False)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=SANDBOX_CHANNEL, text="after")
    assert err.value.response["error"] == "is_archived"


def test_an_overflow_choice_in_a_message_sends_the_option_the_message_offers(
    slack: Any, client: WebClient
) -> None:
    menu = {
        "type": "overflow",
        "action_id": "digest.menu",
        "options": [option("run:1", "Run now"), option("pause:1", "Pause")],
    }
    blocks = [
        {"type": "section", "block_id": "d", "text": {"type": "mrkdwn", "text": "digest"}, "accessory": menu}
    ]
    ts = client.chat_postMessage(channel=SANDBOX_CHANNEL, text="digest", blocks=blocks)["ts"]
    with stand_in_bot(slack) as bot:
        body = {
            "type": "overflow",
            "channel": SANDBOX_CHANNEL,
            "message_ts": ts,
            "block_id": "d",
            "action_id": "digest.menu",
            "value": "pause:1",
            "label": "Pause",
        }
        assert send(slack, "/sandbox/action", body)[0] == 200
    [click] = bot.of_type("block_actions")
    assert click["actions"][0]["type"] == "overflow"
    assert click["actions"][0]["selected_option"] == option("pause:1", "Pause")
    assert "value" not in click["actions"][0]


def test_opening_the_home_tab_sends_app_home_opened_and_shows_what_the_app_publishes(
    slack: Any, client: WebClient
) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}]}

    def publish(body: dict[str, Any]) -> None:
        client.views_publish(user_id=body["event"]["user"], view=home)

    with stand_in_bot(slack, publish) as bot:
        assert send(slack, "/sandbox/home_opened", {}) == (200, {"ok": True, "status": 200, "error": None})
    [opened] = bot.of_type("app_home_opened")
    assert (opened["event"]["user"], opened["event"]["tab"]) == ("U0SANDBOX", "home")
    assert state(slack)["home"]["blocks"] == home["blocks"]


def test_a_choice_in_an_overflow_menu_reaches_the_bot_as_its_selected_option(
    slack: Any, client: WebClient
) -> None:
    got: list[dict[str, Any]] = []

    class Bot(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            got.append(json.loads(form["payload"][0]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Bot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    previous = slack.bot_url
    slack.bot_url = f"http://127.0.0.1:{server.server_port}/slack/events"
    try:
        ts = client.chat_postMessage(channel=SANDBOX_CHANNEL, text="a digest")["ts"]
        body = {
            "channel": SANDBOX_CHANNEL,
            "message_ts": ts,
            "type": "overflow",
            "action_id": "menu",
            "block_id": "digest_1",
            "value": "pause:s-1",
            "label": "Pause",
        }
        origin = f"http://127.0.0.1:{slack.port}"
        status, _ = post(
            slack,
            "/sandbox/action",
            json.dumps(body).encode(),
            **{"Content-Type": "application/json", "Origin": origin, "Host": f"127.0.0.1:{slack.port}"},
        )
        assert status == 200
    finally:
        slack.bot_url = previous
        server.shutdown()
    [action] = got[0]["actions"]
    assert action["type"] == "overflow" and action["action_id"] == "menu"
    assert action["selected_option"] == {
        "text": {"type": "plain_text", "text": "Pause", "emoji": True},
        "value": "pause:s-1",
    }
    assert "value" not in action
