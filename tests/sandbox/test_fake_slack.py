"""FakeSlack driven by the real slack_sdk / slack_bolt clients (no mocks).

Every test talks HTTP or WebSocket to a live FakeSlack, so these tests pin
the fake to what the real clients send and expect.
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

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from sandbox import FakeSlack, make_certificate, mentions

pytestmark = pytest.mark.unit

# The proxy trap: slack_sdk applies HTTP(S)_PROXY and ignores NO_PROXY (slack_sdk/proxy_env_variable_loader.py).
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)

SECRET = "s3cret"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    slack = FakeSlack(signing_secret=SECRET, port=0, bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield slack
    slack.stop()


@pytest.fixture
def slack(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(BOT_TOKEN, base_url=slack.api_url)


class Receiver:
    """A tiny bot endpoint: verifies Slack's signature, answers with ``reply(form)``."""

    def __init__(self, reply: Callable[[dict[str, str]], tuple[int, str, str]]) -> None:
        self.reply = reply
        self.received: list[dict[str, Any]] = []
        verifier = SignatureVerifier(SECRET)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                valid = verifier.is_valid_request(body, headers)
                form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                outer.received.append({"form": form, "headers": headers, "valid": valid})
                status, ctype, text = (401, "application/json", '{"error": "invalid request"}')
                if valid:
                    status, ctype, text = outer.reply(form)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/slack/events"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver(slack: FakeSlack) -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(reply: Callable[[dict[str, str]], tuple[int, str, str]]) -> Receiver:
        r = Receiver(reply)
        made.append(r)
        slack.bot_url = r.url
        return r

    yield make
    for r in made:
        r.close()


# ------------------------------------------------------------------ Web API


def test_auth_test_and_tokens(slack: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()
    assert resp["ok"] and resp["team_id"] == "T0TEST" and resp["user_id"] and resp["bot_id"]
    for token, error in (("xoxb-wrong", "invalid_auth"), (APP_TOKEN, "not_allowed_token_type")):
        with pytest.raises(SlackApiError) as e:
            WebClient(token, base_url=slack.api_url).chat_postMessage(channel="C1", text="hi")
        assert e.value.response["error"] == error
    with pytest.raises(SlackApiError) as e:
        WebClient(base_url=slack.api_url).auth_test()
    assert e.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as e:
        client.api_call("emoji.list")
    assert e.value.response["error"] == "unknown_method"
    assert slack.requests("auth.test")[0].status == 200


def test_post_update_thread_and_ephemeral(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0TEST", text="Report queued")
    assert parent["channel"] == "C0TEST" and parent["message"]["text"] == "Report queued"
    reply = client.chat_postMessage(channel="C0TEST", text="step 1", thread_ts=parent["ts"])
    broadcast = client.chat_postMessage(
        channel="C0TEST", text="done", thread_ts=parent["ts"], reply_broadcast=True
    )
    assert float(parent["ts"]) < float(reply["ts"]) < float(broadcast["ts"])
    assert [m.text for m in slack.thread("C0TEST", parent["ts"])] == ["step 1", "done"]
    assert [m.text for m in slack.messages("C0TEST")] == ["Report queued", "done"]

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Done*"}}]
    upd = client.chat_update(channel="C0TEST", ts=parent["ts"], text="Report ready", blocks=blocks)
    assert upd["ts"] == parent["ts"] and upd["text"] == "Report ready"
    stored = slack.messages("C0TEST")[0]
    assert stored.blocks == blocks and [v.text for v in stored.edits] == ["Report queued"]
    assert stored.bot_id and slack.requests("chat.update")[0].params["ts"] == parent["ts"]

    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C0TEST", ts="1.000001", text="x")
    assert e.value.response["error"] == "message_not_found"

    eph = client.chat_postEphemeral(channel="C0TEST", user="U0ALICE", text="only you")
    assert eph["message_ts"]
    assert [(x.user, x.text) for x in slack.ephemerals(channel="C0TEST")] == [("U0ALICE", "only you")]


def test_limits_and_validation(slack: FakeSlack, client: WebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    client.chat_postMessage(channel="C1", text="ok", blocks=[section] * 50)
    cases = [
        [section] * 51,
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
    ]
    for blocks in cases:
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel="C1", text="t", blocks=blocks)
        assert e.value.response["error"] == "invalid_blocks"
        assert e.value.response["response_metadata"]["messages"]
    long = "y" * 40_001
    ts = client.chat_postMessage(channel="C1", text=long)["ts"]
    assert len(slack.messages("C1")[-1].text) == 40_000
    for call in (
        lambda: client.chat_update(channel="C1", ts=ts, text=long),
        lambda: client.chat_postEphemeral(channel="C1", user="U1", text=long),
    ):
        with pytest.raises(SlackApiError) as e:
            call()
        assert e.value.response["error"] == "msg_too_long"


def test_membership(slack: FakeSlack, client: WebClient) -> None:
    slack.set_channel("C0OUT", member=False)
    slack.set_channel("C0OLD", archived=True)
    for channel, error in (("C0OUT", "not_in_channel"), ("C0OLD", "is_archived")):
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel=channel, text="hi")
        assert e.value.response["error"] == error
    assert client.chat_postMessage(channel="C0NEW", text="auto-created")["ok"]


def test_users_info(slack: FakeSlack, client: WebClient) -> None:
    assert client.users_info(user="U0ALICE")["user"]["tz"] == "America/New_York"
    slack.set_user("U0BOB", name="bob", tz="Europe/Paris")
    user = client.users_info(user="U0BOB")["user"]
    assert (user["id"], user["name"], user["tz"]) == ("U0BOB", "bob", "Europe/Paris")


def test_files_upload_v2_into_thread(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0TEST", text="Report")
    data = b"a,b\n1,2\n"
    resp = client.files_upload_v2(
        channel="C0TEST",
        thread_ts=parent["ts"],
        content=data,
        filename="report.csv",
        title="Q3 report",
        initial_comment="here you go",
    )
    assert resp["file"]["name"] == "report.csv" and resp["file"]["title"] == "Q3 report"
    get_url = slack.requests("files.getUploadURLExternal")[0]
    assert get_url.params["filename"] == "report.csv" and int(get_url.params["length"]) == len(data)
    upload = slack.requests("upload")[0]
    assert upload.status == 200 and upload.response == f"OK - {len(data)}"
    assert "Authorization" not in upload.headers
    complete = slack.requests("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C0TEST" and complete.params["thread_ts"] == parent["ts"]
    (f,) = slack.files()
    assert (f.data, f.mimetype, f.title) == (data, "text/csv", "Q3 report")
    (reply,) = slack.thread("C0TEST", parent["ts"])
    assert reply.text == "here you go" and [x.name for x in reply.files] == ["report.csv"]


def test_chat_schedule_message(slack: FakeSlack, client: WebClient) -> None:
    resp = client.chat_scheduleMessage(channel="C1", text="digest", post_at=int(time.time()) + 60)
    assert resp["scheduled_message_id"] and slack.scheduled_messages()[0]["text"] == "digest"
    with pytest.raises(SlackApiError) as e:
        client.chat_scheduleMessage(channel="C1", text="late", post_at=int(time.time()) - 60)
    assert e.value.response["error"] == "time_in_past"


# ------------------------------------------------------------ faults & limits


def test_fault_injection(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage", error="not_in_channel", times=1)
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C1", text="a")
    assert e.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="b")["ok"]  # fault used up

    slack.fail("chat.postMessage", error=None, status=500)
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C1", text="c")
    assert e.value.response.status_code == 500

    slack.fail("chat.postMessage", error="internal_error", status=503)
    retrying = WebClient(
        BOT_TOKEN, base_url=slack.api_url, retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)]
    )
    assert retrying.chat_postMessage(channel="C1", text="d")["ok"]
    assert [r.status for r in slack.requests("chat.postMessage")][-2:] == [503, 200]
    assert [m.text for m in slack.messages("C1")] == ["b", "d"]


def test_rate_limit_honoured_by_retry_handler(slack: FakeSlack) -> None:
    slack.rate_limit_post_message(per_second=1.0, burst=1)
    plain = WebClient(BOT_TOKEN, base_url=slack.api_url)
    plain.chat_postMessage(channel="C1", text="1")
    with pytest.raises(SlackApiError) as e:
        plain.chat_postMessage(channel="C1", text="2")
    assert e.value.response.status_code == 429 and e.value.response["error"] == "ratelimited"
    assert int(e.value.response.headers["Retry-After"]) >= 1
    assert plain.chat_postMessage(channel="C2", text="other channel")["ok"]  # per channel

    retrying = WebClient(
        BOT_TOKEN, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
    )
    assert retrying.chat_postMessage(channel="C1", text="3")["ok"]
    assert [m.text for m in slack.messages("C1")] == ["1", "3"]


# --------------------------------------------------------------- commands


def test_send_command_http_signed_and_ack_recorded(
    slack: FakeSlack, receiver: Callable[..., Receiver]
) -> None:
    r = receiver(lambda form: (200, "application/json", json.dumps({"text": f"Running {form['text']}…"})))
    resp = slack.send_command("/run-report", "ping", channel="C0TEST", user="U0ALICE")
    assert resp.ok and resp.body == {"text": "Running ping…"} and resp.elapsed < 3
    got = r.received[0]
    assert got["valid"]
    form = got["form"]
    assert form["command"] == "/run-report" and form["text"] == "ping"
    assert (form["team_id"], form["channel_id"], form["user_id"]) == ("T0TEST", "C0TEST", "U0ALICE")
    for key in ("response_url", "trigger_id", "api_app_id", "channel_name", "user_name", "team_domain"):
        assert form[key], key
    assert form["is_enterprise_install"] == "false"
    assert form["response_url"].startswith(slack.base_url)
    assert [e.text for e in slack.ephemerals(user="U0ALICE")] == ["Running ping…"]

    # Stale timestamp and wrong secret are refused by a verifying bot (401).
    stale = slack.send_command("/run-report", "x", timestamp=int(time.time()) - 301)
    wrong = slack.send_command("/run-report", "x", secret="not-the-secret")
    unsigned = slack.send_command("/run-report", "x", headers={"X-Slack-Signature": None})
    assert [x.status for x in (stale, wrong, unsigned)] == [401, 401, 401]
    assert stale.error == "http_client_error" and not any(x["valid"] for x in r.received[1:])


def test_send_command_plain_text_and_in_channel(slack: FakeSlack, receiver: Callable[..., Receiver]) -> None:
    receiver(
        lambda form: (
            (200, "text/plain", "got it")
            if form["text"] == "a"
            else (
                200,
                "application/json",
                json.dumps({"response_type": "in_channel", "text": "Everyone: report"}),
            )
        )
    )
    assert slack.send_command("/run-report", "a").body == "got it"
    json_body = slack.send_command("/run-report", "b").body
    assert isinstance(json_body, dict), json_body
    assert json_body["response_type"] == "in_channel"
    assert [e.text for e in slack.ephemerals()] == ["got it"]
    assert [(m.user, m.text) for m in slack.messages("C0TEST")][-2:] == [
        ("U0ALICE", "/run-report b"),
        ("U0BOT", "Everyone: report"),
    ]


def test_send_command_timeout(slack: FakeSlack, receiver: Callable[..., Receiver]) -> None:
    def slow(form: dict[str, str]) -> tuple[int, str, str]:
        time.sleep(0.6)
        return 200, "text/plain", ""

    receiver(slow)
    resp = slack.send_command("/run-report", "slow", timeout=0.3)
    assert resp.error == "operation_timeout" and resp.status == 0
    assert "operation_timeout" in slack.ephemerals(user="U0ALICE")[0].text


def test_response_url_five_uses(slack: FakeSlack, receiver: Callable[..., Receiver]) -> None:
    r = receiver(lambda form: (200, "text/plain", ""))
    slack.send_command("/run-report", "x")
    hook = WebhookClient(r.received[0]["form"]["response_url"])
    for i in range(5):
        assert hook.send(text=f"progress {i}").status_code == 200
    sixth = hook.send(text="too many")
    assert sixth.status_code == 404 and json.loads(sixth.body)["error"] == "used_url"
    assert [e.text for e in slack.ephemerals(user="U0ALICE")] == [f"progress {i}" for i in range(5)]
    assert slack.requests("response_url")[0].headers["Content-Type"].startswith("application/json")


def test_response_url_expires_after_30_minutes() -> None:
    now = [1_700_000_000.0]
    slack = FakeSlack(signing_secret=SECRET, clock=lambda: now[0]).start()
    try:
        r = Receiver(lambda form: (200, "text/plain", ""))
        slack.bot_url = r.url
        # The receiver's SignatureVerifier uses the real clock: sign with it.
        slack.send_command("/run-report", "x", timestamp=int(time.time()))
        hook = WebhookClient(r.received[0]["form"]["response_url"])
        now[0] += 29 * 60
        assert hook.send(text="still fine").status_code == 200
        now[0] += 2 * 60
        late = hook.send(text="too late")
        assert late.status_code == 404 and json.loads(late.body)["error"] == "expired_url"
        r.close()
    finally:
        slack.stop()


def test_response_url_in_channel_and_replace(slack: FakeSlack, receiver: Callable[..., Receiver]) -> None:
    r = receiver(lambda form: (200, "text/plain", "queued"))
    slack.send_command("/run-report", "x")
    hook = WebhookClient(r.received[0]["form"]["response_url"])
    hook.send(text="queued → running", replace_original=True)
    (eph,) = slack.ephemerals()
    assert eph.text == "queued → running" and eph.edits[0].text == "queued"
    hook.send(text="Report posted", response_type="in_channel")
    assert slack.messages("C0TEST")[-1].text == "Report posted"


def test_interaction_http_replaces_message(
    slack: FakeSlack, client: WebClient, receiver: Callable[..., Receiver]
) -> None:
    r = receiver(lambda form: (200, "text/plain", ""))
    ts = client.chat_postMessage(channel="C0TEST", text="Retry?")["ts"]
    action = {"action_id": "retry", "block_id": "b", "type": "button", "value": "42"}
    resp = slack.send_interaction({"actions": [action], "message": {"ts": ts}, "channel": {"id": "C0TEST"}})
    assert resp.ok and r.received[0]["valid"]
    payload = json.loads(r.received[0]["form"]["payload"])
    assert payload["type"] == "block_actions" and payload["actions"][0]["value"] == "42"
    WebhookClient(payload["response_url"]).send(text="Retrying…", replace_original=True)
    assert slack.messages("C0TEST")[0].text == "Retrying…"


# ------------------------------------------------------------ Socket Mode


def test_socket_mode_command_ack_and_reconnect(slack: FakeSlack) -> None:
    web = WebClient(BOT_TOKEN, base_url=slack.api_url)
    sm = SocketModeClient(app_token=APP_TOKEN, web_client=web)
    seen: list[SocketModeRequest] = []

    def listener(c: BaseSocketModeClient, req: SocketModeRequest) -> None:
        seen.append(req)
        if req.type == "slash_commands":
            payload = {"text": f"ack {req.payload['text']}"}
            c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))
        else:
            c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    sm.socket_mode_request_listeners.append(listener)
    sm.connect()
    try:
        assert slack.socket_connected(timeout=5)
        resp = slack.send_command("/run-report", "ping", mode="socket")
        assert resp.ok and resp.body == {"text": "ack ping"}
        assert seen[0].payload["response_url"].startswith(slack.base_url) and seen[0].accepts_response_payload
        assert [e.text for e in slack.ephemerals(user="U0ALICE")] == ["ack ping"]

        slack.disconnect_sockets()
        slack.wait_for(
            lambda: len(slack.socket_connections()) >= 2 and slack.socket_connected(0.1), timeout=8
        )
        assert slack.send_command("/run-report", "again", mode="socket").body == {"text": "ack again"}
        assert slack.send_interaction({"actions": []}, mode="socket").ok
        assert seen[-1].type == "interactive"
    finally:
        sm.close()


def test_over_tls_every_url_the_fake_mints_is_served_over_tls(tmp_path, monkeypatch) -> None:
    """Slack serves HTTPS only: with a certificate, so does the fake, for each URL it hands out."""
    cert = make_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))
    slack = FakeSlack(signing_secret=SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN, tls=cert).start()
    bot = Receiver(lambda form: (200, "text/plain", ""))
    try:
        web = WebClient(BOT_TOKEN, base_url=slack.api_url)
        parent = web.chat_postMessage(channel="C0TLS", text="Report")
        web.files_upload_v2(channel="C0TLS", thread_ts=parent["ts"], content=b"a\n1\n", filename="r.csv")
        assert slack.requests("upload")[0].status == 200
        assert [f.name for f in slack.thread("C0TLS", parent["ts"])[0].files] == ["r.csv"]

        slack.bot_url = bot.url
        assert slack.send_command("/run-report", "ping", channel="C0TLS").ok
        response_url = bot.received[0]["form"]["response_url"]
        assert response_url.startswith("https://127.0.0.1:")
        assert WebhookClient(response_url).send(text="done").status_code == 200
        assert [e.text for e in slack.ephemerals(channel="C0TLS")] == ["done"]

        assert web.apps_connections_open(app_token=APP_TOKEN)["url"].startswith("wss://127.0.0.1:")
    finally:
        bot.close()
        slack.stop()


def test_socket_mode_without_client_is_dispatch_failed(slack: FakeSlack) -> None:
    slack.wait_for(lambda: not slack.socket_connected(0.05), timeout=5)
    resp = slack.send_command("/run-report", "x", mode="socket", timeout=0.2)
    assert resp.error == "dispatch_failed"


def test_bolt_socket_mode_handler(slack: FakeSlack) -> None:
    from slack_bolt import App
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = App(client=WebClient(BOT_TOKEN, base_url=slack.api_url), signing_secret=SECRET)

    @app.command("/run-report")
    def run(ack: Callable[..., None], respond: Callable[..., None], command: dict[str, str]) -> None:
        ack(f"Running {command['text']}")
        respond(text="progress", response_type="ephemeral")

    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()
    try:
        assert slack.socket_connected(timeout=5)
        resp = slack.send_command("/run-report", "daily", mode="socket")
        assert resp.body == {"text": "Running daily"}
        slack.wait_for(lambda: len(slack.ephemerals(user="U0ALICE")) == 2)
        # Bolt sends the ack frame after ack() while the listener goes on to respond():
        # the two race, in real Slack too, so only the set is deterministic.
        assert sorted(e.source for e in slack.ephemerals()) == ["ack", "response_url"]
    finally:
        handler.close()


# ------------------------------------------------------------------ helpers


def test_mentions_and_escaping() -> None:
    raw = "hi <!channel> <!here> <@U123|bob> <#C1> <http://evil.example|bank> &lt;!channel&gt;"
    assert mentions(raw) == ["<!channel>", "<!here>", "<@U123|bob>", "<#C1>", "<http://evil.example|bank>"]
    assert mentions("&lt;!here&gt; &amp; plain") == []


def test_wait_for_dumps_state_and_subscribe(slack: FakeSlack, client: WebClient) -> None:
    events: list[dict[str, Any]] = []
    unsubscribe = slack.subscribe(events.append)
    client.chat_postMessage(channel="C9", text="visible in dump")
    unsubscribe()
    assert any(e["type"] == "message" and e["message"]["text"] == "visible in dump" for e in events)
    with pytest.raises(AssertionError) as e:
        slack.wait_for(lambda: False, timeout=0.1, message="never")
    assert "visible in dump" in str(e.value) and "chat.postMessage" in str(e.value)
