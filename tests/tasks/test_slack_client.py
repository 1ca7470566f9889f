"""The one Slack client keeps its connection open, and still behaves as slack_sdk's own: errors,
429s and retries come out the same, and a connection Slack closed is replaced, not failed on."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox import FakeSlack, make_certificate
from tasks.jobs.records import Job, new_job_id
from tasks.settings import Settings
from tasks.slack import kept_alive
from tasks.slack.web_api import make_client
from tasks.worker.execution import _retry_after, run_job
from tests.support import BOT_TOKEN, worker_runtime


@pytest.fixture
def slack():
    fake = FakeSlack(bot_token=BOT_TOKEN).start()
    yield fake
    fake.stop()


def test_a_jobs_web_api_calls_share_one_connection(services, slack: FakeSlack) -> None:
    runtime = worker_runtime(slack)
    for channel in ("C0KEEP1", "C0KEEP2"):
        job = Job(id=new_job_id(), report="ping", args={}, channel=channel, user="U0ALICE")
        assert run_job(job, runtime) == "succeeded"

    calls = slack.requests()
    # A quick report: its status message, posted finished, and the result in its thread.
    assert [c.method for c in calls] == ["chat.postMessage", "chat.postMessage"] * 2
    assert len({c.peer for c in calls}) == 1, (
        f"one connection for four calls, not {sorted({c.peer for c in calls})}"
    )
    (reply,) = slack.thread("C0KEEP1", slack.messages("C0KEEP1")[0].ts)
    assert reply.text.startswith("pong")


@pytest.fixture
def slack_over_tls(tmp_path, monkeypatch):
    """The fake serving HTTPS, as Slack does; clients trust it through SSL_CERT_FILE."""
    cert = make_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))
    fake = FakeSlack(bot_token=BOT_TOKEN, tls=cert).start()
    yield fake
    fake.stop()


def test_over_tls_a_jobs_calls_share_one_connection_where_slack_sdks_client_opens_one_each(
    services,
    slack_over_tls: FakeSlack,
) -> None:
    slack = slack_over_tls
    assert slack.api_url.startswith("https://")
    job = Job(id=new_job_id(), report="ping", args={}, channel="C0TLS1", user="U0ALICE")
    assert run_job(job, worker_runtime(slack)) == "succeeded"
    ours = slack.requests()
    assert [c.method for c in ours] == ["chat.postMessage", "chat.postMessage"]
    assert len({c.peer for c in ours}) == 1, "one TLS handshake for the job's calls"
    (reply,) = slack.thread("C0TLS1", slack.messages("C0TLS1")[0].ts)
    assert reply.text.startswith("pong")

    # What that saves: slack_sdk's default client (a first attempt's) shakes hands on every call.
    slack.reset()
    default = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    ts = default.chat_postMessage(channel="C0TLS2", text="running")["ts"]
    default.chat_postMessage(channel="C0TLS2", thread_ts=ts, text="pong")
    default.chat_update(channel="C0TLS2", ts=ts, text="succeeded")
    assert len({c.peer for c in slack.requests()}) == 3


@pytest.mark.unit
def test_a_connection_slack_closed_is_replaced_and_the_message_posted_once(slack: FakeSlack) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    client.chat_postMessage(channel="C0DROP", text="first")
    assert isinstance(client, kept_alive.KeptAliveWebClient), client
    (kept,) = client._connections.mine().values()
    conn = kept.conn
    conn.sock.shutdown(socket.SHUT_WR)  # the server sees the end of the stream and closes its side
    assert select.select([conn.sock], [], [], 5)[0], "the server closed the connection"

    client.chat_postMessage(channel="C0DROP", text="second")

    assert [m.text for m in slack.messages("C0DROP")] == ["first", "second"]
    posts = slack.requests("chat.postMessage")
    assert len(posts) == 2 and posts[0].peer != posts[1].peer, "the second call opened a new connection"


@pytest.mark.unit
def test_a_429_reaches_the_caller_with_its_retry_after_and_the_connection_stays_usable(
    slack: FakeSlack,
) -> None:
    client = make_client(
        Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url), wait_on_rate_limit=False
    )
    slack.fail("chat.postMessage", error="ratelimited", status=429, retry_after=3, times=1)

    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0RATE", text="too soon")
    assert refused.value.response.status_code == 429
    assert refused.value.response["error"] == "ratelimited"
    assert _retry_after(refused.value) == 3.0

    client.chat_postMessage(channel="C0RATE", text="later")
    assert [m.text for m in slack.messages("C0RATE")] == ["later"]
    assert len({r.peer for r in slack.requests("chat.postMessage")}) == 1


@pytest.mark.unit
def test_a_slack_5xx_is_retried_by_slack_sdks_handler_and_posts_once(slack: FakeSlack) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    slack.fail("chat.postMessage", error="internal_error", status=500, times=1)

    client.chat_postMessage(channel="C0FIVE", text="through")

    assert [r.status for r in slack.requests("chat.postMessage")] == [500, 200]
    assert [m.text for m in slack.messages("C0FIVE")] == ["through"]


class ClosesReusedConnections:
    """A Web API server that answers the first request of each connection and closes the
    connection when a second one arrives on it, without a byte of answer: a server's idle
    close racing with the client's next call."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/"
        self.received: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            for number in (1, 2):
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    int(h.split(b":")[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                )
                body = reader.read(length)
                if number == 2:
                    return  # closed, unanswered
                self.received.append(body.decode())
                answer = json.dumps({"ok": True, "channel": "C1", "ts": f"{len(self.received)}.0"}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer
                )

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def closing_server() -> Iterator[ClosesReusedConnections]:
    server = ClosesReusedConnections()
    yield server
    server.close()


@pytest.mark.unit
def test_the_ack_paths_one_try_never_meets_a_connection_the_server_closed(
    closing_server: ClosesReusedConnections,
) -> None:
    # One try, no slack_sdk retry handler: a reused connection closed as the call went out would
    # fail it, so this client opens a connection per call.
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=closing_server.url), ack_path=True)
    for text in ("one", "two", "three"):
        assert client.chat_postMessage(channel="C1", text=text)["ok"]
    assert [json.loads(b)["text"] for b in closing_server.received] == ["one", "two", "three"], (
        "each sent once"
    )


@pytest.mark.unit
def test_a_worker_call_on_a_connection_closed_as_it_went_out_is_retried_by_slack_sdk(
    closing_server: ClosesReusedConnections,
) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=closing_server.url))
    for text in ("one", "two"):
        assert client.chat_postMessage(channel="C1", text=text)["ok"]
    assert [json.loads(b)["text"] for b in closing_server.received] == ["one", "two"]


@pytest.mark.unit
def test_a_connection_idle_too_long_is_not_reused(slack: FakeSlack, monkeypatch) -> None:
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    client.chat_postMessage(channel="C0IDLE", text="first")
    monkeypatch.setattr(kept_alive, "IDLE_LIMIT", 0.0)
    client.chat_postMessage(channel="C0IDLE", text="second")
    first, second = slack.requests("chat.postMessage")
    assert first.peer != second.peer


@pytest.mark.unit
def test_a_kept_connection_on_a_descriptor_above_1023_is_reused(slack: FakeSlack) -> None:
    """select() cannot watch such a descriptor; a worker whose reports hold many files gets one."""
    client = make_client(Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))
    client.chat_postMessage(channel="C0MANYFD", text="first")
    assert isinstance(client, kept_alive.KeptAliveWebClient), client
    (kept,) = client._connections.mine().values()
    low = kept.conn.sock
    high = socket.socket(fileno=os.dup2(low.fileno(), 1500))  # the same connection, on fd 1500
    high.settimeout(low.gettimeout())
    kept.conn.sock = high
    low.close()

    client.chat_postMessage(channel="C0MANYFD", text="second")

    assert [m.text for m in slack.messages("C0MANYFD")] == ["first", "second"]
    assert len({r.peer for r in slack.requests("chat.postMessage")}) == 1, "the connection was kept"
