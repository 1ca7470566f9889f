"""Reading one text field out of a Slack payload (a command's form, a click's body).

Slack leaves a field out, or sends it as null, when it has nothing to say (a click outside a
channel has no `channel`; a command from a shortcut has no `response_url`). Every reader wants
"" then, never "None", and a nested field (`team.id`, the first action's `value`) read the same
way, so this is the one place that knows it.

>>> body = {"team": {"id": "T0ACME"}, "actions": [{"value": "j1"}], "trigger_id": None}
>>> string_at(body, "team", "id"), string_at(body, "actions", 0, "value"), string_at(body, "trigger_id")
('T0ACME', 'j1', '')
>>> string_at(body, "channel", "id"), string_at({"user_id": "U1"}, "user_id")
('', 'U1')
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Slack's limit on a view's private_metadata: anything longer is not what the bot stored.
METADATA_LIMIT = 3000

__all__ = ["METADATA_LIMIT", "metadata_object", "string_at", "submission_delivery"]


def string_at(payload: Mapping[str, Any], *path: str | int) -> str:
    """The value at `path` (keys of objects, indexes of lists) as text; "" if it is missing or
    null, or a step on the way is not the object or list the path expects."""
    value: Any = payload
    for step in path:
        if isinstance(step, int):
            if isinstance(value, str) or not isinstance(value, Sequence) or not 0 <= step < len(value):
                return ""
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return ""
    return "" if value is None else str(value)


def submission_delivery(body: Mapping[str, Any]) -> str:
    """What makes two view_submissions "the same delivery" for the once-per-delivery guards
    (`bot.deliveries`): the view they submit.

    Slack gives every view_submission a trigger_id of its own, so a double click on Submit (or
    a second submission while the first is being handled) would pass a guard keyed on it and
    do the work twice. Both carry the same view id, and a form that did its work is closed or
    replaced by what it did, so a view id never rightly does it twice. The trigger_id stands
    in only for a body without a view id. Capped: the guard hashes it, the log may show it.
    """
    view_id = string_at(body, "view", "id")
    return f"view:{view_id[:64]}" if view_id else string_at(body, "trigger_id")[:256]


def metadata_object(text: str) -> dict[str, Any]:
    """A view's private_metadata as the JSON object the bot stored there, or {} for anything
    else: over Slack's limit, not JSON, nested deeper than the parser's stack (RecursionError,
    which is not a ValueError), or not an object. Each field is still the caller's to check."""
    if not text or len(text) > METADATA_LIMIT:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
