"""Local Slack sandbox: a fake Slack server for tests and local development.

``FakeSlack`` speaks Slack's HTTP, Web API and Socket Mode protocols on
127.0.0.1 so the real bot can run end to end without reaching slack.com.
"""

from sandbox.fake_slack import CommandResponse, FakeSlack, SocketConnection, sign
from sandbox.state import Ephemeral, Message, RecordedRequest, StoredFile, mentions
from sandbox.tls import Certificate, make_certificate

__all__ = [
    "Certificate",
    "CommandResponse",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "RecordedRequest",
    "SocketConnection",
    "StoredFile",
    "make_certificate",
    "mentions",
    "sign",
]
