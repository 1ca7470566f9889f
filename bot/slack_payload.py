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

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["string_at"]


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
