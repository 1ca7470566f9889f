"""The sandbox: a local Slack, for the browser and for tests.

``FakeSlack`` plays Slack on 127.0.0.1 at Slack's own HTTP boundary: the bot's real Slack clients
call its Web API and hold its Socket Mode WebSocket, and it delivers slash commands and button
clicks to the bot as Slack does, signed. A page in the browser shows the workspace as a Slack
channel looks, and ``python run.py`` with no Slack credentials runs the whole product behind it
(the all-in-one local mode). Nothing in ``bot/`` or ``tasks/`` imports the sandbox.

The modules, each with one concern:

- ``state``: the workspace (channels, users, messages, files, ...) and Slack's rules for changing it.
- ``web_api``: the bot calling Slack: Web API methods, ``response_url``, file uploads.
- ``socket_mode``: the Socket Mode WebSocket: connections, envelopes and their acks.
- ``delivery``: Slack calling the bot: signed commands and interactions, over HTTP or Socket Mode.
- ``views``: modals and Home tabs: trigger ids, each user's modal stack, Slack's view rules.
- ``view_delivery``: Slack calling the bot from views: submissions, clicks in a modal or the Home
  tab, shortcuts, and Events API events.
- ``page``: the browser page's routes, and the JSON snapshot of the workspace it shows (channels,
  the Home tab, open modals); what a person does there goes out through ``delivery`` and
  ``view_delivery``, as in the tests.
- ``form_values``: what a person entered in a modal on the page, as Slack's ``state.values``.
- ``server``: ``FakeSlack``, the one aiohttp server that composes them, its start and stop.
- ``loop``: the server's event loop in a thread of its own, for synchronous callers.
- ``tls``: a throwaway certificate, to serve over HTTPS as Slack does.
- ``local``: the all-in-one local mode: the sandbox, the bot, a worker and the scheduler.
"""

from sandbox.delivery import CommandResponse, sign
from sandbox.server import FakeSlack
from sandbox.socket_mode import SocketConnection
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
