"""Local Slack sandbox: a fake Slack server for tests and local development.

``FakeSlack`` speaks Slack's HTTP, Web API and Socket Mode protocols on
127.0.0.1 so the real bot can run end to end without reaching slack.com.
"""

from bot.sandbox.fake_slack import CommandResponse, FakeSlack, SocketConnection, sign
from bot.sandbox.state import Ephemeral, Message, RecordedRequest, StoredFile, mentions

__all__ = [
    "CommandResponse",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "RecordedRequest",
    "SocketConnection",
    "StoredFile",
    "mentions",
    "sign",
]
