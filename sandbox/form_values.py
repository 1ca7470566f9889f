"""What a person entered in a modal on the sandbox page, in the shape Slack sends it to the bot.

The page sends plain values, one per control (``{block_id: {action_id: "text" | ["a", "b"] |
None}}``); Slack sends ``view.state.values`` with a typed entry per element (SLACK.md §8.2:
``value`` for text and number inputs, ``selected_date``, ``selected_time``, ``selected_option``,
``selected_options``, ``selected_conversation``, ...). Building that here, from the view as the
fake Slack holds it, keeps the page free of Slack's wire format, and means an option the view
never offered cannot be sent (a browser is no more trusted than the bot).
"""

from __future__ import annotations

from typing import Any

MAX_VALUE_CHARS = 3000  # plain_text_input's own max_length ceiling

# element type -> the key of its entry in state.values holding one plain string
SINGLE_STRING_KEYS = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "users_select": "selected_user",
}
SINGLE_OPTION = {"static_select", "radio_buttons"}
MANY_OPTIONS = {"checkboxes", "multi_static_select"}
STATEFUL = set(SINGLE_STRING_KEYS) | SINGLE_OPTION | MANY_OPTIONS


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """Every option an element offers, its option groups' included."""
    groups = element.get("option_groups") or []
    return [*(element.get("options") or []), *[o for g in groups for o in g.get("options") or []]]


def element_state(element: dict[str, Any], raw: Any) -> dict[str, Any]:
    """One element's entry: ``{"type": ..., <its key>: ...}``; an empty control gives Slack's
    empty value (None, or [] for a multi-choice)."""
    kind = str(element.get("type") or "")
    if kind in SINGLE_STRING_KEYS:
        text = raw if isinstance(raw, str) and raw != "" else None
        return {"type": kind, SINGLE_STRING_KEYS[kind]: text[:MAX_VALUE_CHARS] if text else None}
    offered = options_of(element)
    if kind in SINGLE_OPTION:
        chosen = next((o for o in offered if isinstance(raw, str) and o.get("value") == raw), None)
        return {"type": kind, "selected_option": chosen}
    if kind in MANY_OPTIONS:
        wanted = {v for v in raw if isinstance(v, str)} if isinstance(raw, list) else set()
        return {"type": kind, "selected_options": [o for o in offered if o.get("value") in wanted]}
    return {"type": kind, "value": raw if isinstance(raw, str) else None}


def state_values(view: dict[str, Any], form: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """``view.state.values`` for ``form``: an entry for every input block of the view that has a
    block_id (only input blocks are sent, SLACK.md §8.2); what the form does not name is empty."""
    given = form if isinstance(form, dict) else {}
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks") or []:
        element = block.get("element")
        block_id = block.get("block_id")
        if block.get("type") != "input" or not isinstance(element, dict) or not block_id:
            continue
        action_id = str(element.get("action_id") or "")
        entered = given.get(block_id)
        raw = entered.get(action_id) if isinstance(entered, dict) else None
        values[str(block_id)] = {action_id: element_state(element, raw)}
    return values


def find_element(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any] | None:
    """The element ``action_id`` in block ``block_id`` of the view (accessory, input element, or
    one of an actions block's elements)."""
    for block in view.get("blocks") or []:
        if str(block.get("block_id") or "") != block_id:
            continue
        for element in [*(block.get("elements") or []), block.get("accessory"), block.get("element")]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None
