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

from sandbox.page import SANDBOX_CHANNEL, split_command
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
