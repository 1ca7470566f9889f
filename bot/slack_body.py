"""Parse the body of a Slack HTTP request into the dict Bolt's listeners get.

Slack sends three shapes (SLACK.md §1, §8): a slash command as a form, an interaction as a form
of one field `payload=<json>`, an event as JSON. The shape is told by the content type and by
the form's field names. (Bolt's own parser looks for the text "payload" anywhere in the body,
so a command that says "payload" in any field would lose all its fields.)

>>> parse_body("command=%2Frun-report&text=echo+text%3Dpayload", "application/x-www-form-urlencoded")
{'command': '/run-report', 'text': 'echo text=payload'}
>>> parse_body('payload=%7B%22type%22%3A%22block_actions%22%7D', "application/x-www-form-urlencoded")
{'type': 'block_actions'}
>>> parse_body('{"type": "url_verification", "challenge": "c"}', "application/json; charset=utf-8")
{'type': 'url_verification', 'challenge': 'c'}
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# A slash command has about fifteen fields; a form with far more is not from Slack.
MAX_FORM_FIELDS = 100

# The fields Bolt reads to route a request and fill its context (`slack_bolt/request/internals.py`,
# its built-in middleware and matchers) and our listeners read, with the types Slack gives them.
# Bolt trusts these types; a signed body with others is not Slack's, and inside Bolt it would be
# a 500 with a traceback. Objects among them are checked by the same rules, as Bolt reads them so.
_OBJECTS = frozenset(
    {
        "event",
        "view",
        "message",
        "previous_message",
        "item",
        "assistant_thread",
        "function_data",
    }
)
_ID_OR_OBJECT = frozenset({"user", "channel", "team", "enterprise"})
_LISTS_OF_OBJECTS = frozenset({"actions", "authorizations", "response_urls"})
# Read without a check for null (`body["event"]["type"]`, `len(body["response_urls"])`); and a
# click has at least one action (`body["actions"][0]`).
_NOT_NULL = frozenset({"event", "actions", "response_urls"})
_NOT_EMPTY = frozenset({"actions"})
_STRINGS = frozenset(
    {
        "type", "id", "user_id", "channel_id", "team_id", "enterprise_id", "user_team", "bot_id",
        "response_url", "trigger_id", "command", "callback_id", "action_id", "block_id", "thread_ts",
        "function_execution_id", "bot_access_token",
    }
)  # fmt: skip


class BadBody(ValueError):
    """The body is not one of the shapes Slack sends; the message is short and safe to log."""


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(text: str, content_type: str) -> dict[str, Any]:
    """The request's fields: a command's form fields, an interaction's payload, an event."""
    kind = media_type(content_type)
    if kind == JSON:
        return _json_object(text, "JSON body")
    if kind != FORM:
        raise BadBody(f"unsupported content type {kind[:40]!r}")
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
    except ValueError as exc:  # more fields than MAX_FORM_FIELDS
        raise BadBody("too many form fields") from exc
    if not fields:
        raise BadBody("empty form")
    if "payload" in fields:  # an interaction: the form's one field; no command has a field of that name
        return _json_object(fields["payload"], "interaction payload")
    return _checked(fields, "form")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise BadBody(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise BadBody(f"{what} is not a JSON object")
    return _checked(value, what)


def _checked(body: dict[str, Any], what: str) -> dict[str, Any]:
    """`body`, if the fields Bolt relies on have Slack's types; else `BadBody` naming the first."""
    pending: list[tuple[str, dict[str, Any]]] = [("", body)]
    while pending:
        path, obj = pending.pop()
        for key, value in obj.items():
            where = f"{path}{key}"
            if value is None and key not in _NOT_NULL:
                continue
            if key in _STRINGS:
                ok = isinstance(value, str)
            elif key in _OBJECTS:
                ok = isinstance(value, dict)
            elif key in _ID_OR_OBJECT:
                ok = isinstance(value, str | dict)
            elif key in _LISTS_OF_OBJECTS:
                ok = isinstance(value, list) and all(isinstance(item, dict) for item in value)
                ok = ok and (bool(value) or key not in _NOT_EMPTY)
            else:
                continue
            if not ok:
                raise BadBody(f"{what}: `{where[:60]}` is not what Slack sends")
            if isinstance(value, dict):
                pending.append((f"{where}.", value))
            elif isinstance(value, list):
                pending.extend((f"{where}[].", item) for item in value)
    return body
