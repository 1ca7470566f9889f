"""The page's form, as Slack's ``view.state.values``: typed per element, and only what the view offers."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.form_values import element_state, find_element, state_values

pytestmark = pytest.mark.unit


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value.upper()}, "value": value}


def test_each_element_type_gives_the_entry_slack_sends() -> None:
    grouped = {
        "type": "static_select",
        "option_groups": [{"label": {}, "options": [option("a"), option("b")]}],
    }
    assert element_state(grouped, "b") == {"type": "static_select", "selected_option": option("b")}
    assert element_state(grouped, "z") == {"type": "static_select", "selected_option": None}
    multi = {"type": "multi_static_select", "options": [option("a"), option("b")]}
    assert element_state(multi, ["b", "a", 3]) == {
        "type": "multi_static_select",
        "selected_options": [option("a"), option("b")],
    }
    assert element_state({"type": "checkboxes", "options": [option("a")]}, "a") == {
        "type": "checkboxes",
        "selected_options": [],
    }
    assert element_state({"type": "users_select"}, "U0BOB") == {
        "type": "users_select",
        "selected_user": "U0BOB",
    }
    assert element_state({"type": "number_input"}, "") == {"type": "number_input", "value": None}
    assert element_state({"type": "plain_text_input"}, "x" * 5000)["value"] == "x" * 3000


def test_only_input_blocks_with_a_block_id_are_in_the_state_and_missing_ones_are_empty() -> None:
    view = {
        "blocks": [
            {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "hi"}},
            {"type": "input", "element": {"type": "plain_text_input", "action_id": "a"}},
            {"type": "input", "block_id": "when", "element": {"type": "datepicker", "action_id": "d"}},
            {"type": "input", "block_id": "who", "element": {"type": "plain_text_input", "action_id": "t"}},
        ]
    }
    form = {"when": {"d": "2026-03-29"}, "who": "not a dict", "evil": {"x": "y"}}
    assert state_values(view, form) == {
        "when": {"d": {"type": "datepicker", "selected_date": "2026-03-29"}},
        "who": {"t": {"type": "plain_text_input", "value": None}},
    }
    assert state_values(view, None)["when"] == {"d": {"type": "datepicker", "selected_date": None}}


def test_an_element_is_found_by_block_and_action_id_wherever_it_sits() -> None:
    button = {"type": "button", "action_id": "go"}
    accessory = {"type": "overflow", "action_id": "menu"}
    view = {
        "blocks": [
            {"type": "actions", "block_id": "a", "elements": [button]},
            {"type": "section", "block_id": "s", "accessory": accessory},
        ]
    }
    assert find_element(view, "a", "go") == button
    assert find_element(view, "s", "menu") == accessory
    assert find_element(view, "s", "go") is None
