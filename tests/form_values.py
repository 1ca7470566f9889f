"""A modal's `view.state.values` as Slack sends them, built from the drawn view itself.

Slack sends, for each input block, the element's current state; a field left as drawn holds its
initial value. Tests fill a form as a person would: take the drawn view, change some fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["option", "values_of"]


def values_of(view: dict[str, Any], **changes: dict[str, Any] | None) -> dict[str, Any]:
    """`view.state.values` for `view`'s input blocks as drawn, with `changes` (block id, with
    `__` for `.`, → the element's state, e.g. `{"value": "7"}`) on top; None empties a field."""
    values: dict[str, Any] = {}
    actions: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        kind = element["type"]
        actions[block["block_id"]] = element["action_id"]
        kinds[block["block_id"]] = kind
        state: dict[str, Any] = {"type": kind}
        if kind in ("static_select", "radio_buttons"):
            state["selected_option"] = element.get("initial_option")
        elif kind == "checkboxes":
            state["selected_options"] = element.get("initial_options") or []
        elif kind == "timepicker":
            state["selected_time"] = element.get("initial_time")
        elif kind == "conversations_select":
            state["selected_conversation"] = element.get("initial_conversation")
        elif kind == "datepicker":
            state["selected_date"] = element.get("initial_date")
        else:
            state["value"] = element.get("initial_value")
        values[block["block_id"]] = {element["action_id"]: state}
    for name, change in changes.items():
        block_id = name.replace("__", ".")
        action = (
            actions.get(block_id)
            or next(iter(values.get(block_id, {})), "")
            or f"schedule_form.field.{block_id}"
        )
        values[block_id] = {action: {"type": kinds.get(block_id, "changed"), **(change or {})}}
    return values


def option(value: str) -> dict[str, Any]:
    """A select's or radio button's state with `value` picked."""
    return {"selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}
