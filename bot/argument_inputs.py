"""A report's arguments as modal inputs, and a submitted modal's values back as typed text.

One input block per argument, chosen by `Param.kind`: a date picker for `date`, a select for a
`Literal[...]`, a number input for `int`/`float`, one checkbox for `bool`, a text input for
`str`. Defaults (and whatever the person already typed after the command) are filled in; the
hint is the argument's line of help. What comes back is turned into the same `key=value` text
the command takes, so the form is validated by exactly the code that validates the command
(`Param.convert`, then `CommandHandler.queue`). The report form uses this; the schedule form can
too, which is why it is its own module. Pure: no Slack, no store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    DatePickerElement,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import PlainTextObject

from bot.slack_payload import string_at
from tasks.reports import ArgumentError, Param, Report

__all__ = [
    "MAX_ARGUMENT_INPUTS",
    "VALUE_ACTION",
    "arg_block_id",
    "argument_block",
    "argument_blocks",
    "plain_text",
    "typed_args",
]

#: The action_id of every argument's input (unique within its block, which is all Slack asks).
VALUE_ACTION = "value"
#: The most argument inputs one modal shows: a modal holds 100 blocks, and the form needs a few.
MAX_ARGUMENT_INPUTS = 90
# Slack's limits on what an input carries (Block Kit reference: select, option, text input).
MAX_SELECT_OPTIONS = 100
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
TEXT_INPUT_LIMIT = 3000
LABEL_LIMIT = 2000
BLOCK_ID_LIMIT = 255
# How much of an error message is shown under a field.
ERROR_LIMIT = 1000

_YES = "yes"


def arg_block_id(report: str, param: str) -> str:
    """The block_id of `param`'s input in `report`'s form: it names the report, so switching the
    report in an open form (same view, `views.update`) never carries one argument's value into
    another's input. A name too long for a block_id is replaced by its digest.

    >>> arg_block_id("sales", "days")
    'arg:sales:days'
    """
    block_id = f"arg:{report}:{param}"
    if len(block_id) <= BLOCK_ID_LIMIT:
        return block_id
    return f"arg:{report}:#" + hashlib.sha256(param.encode()).hexdigest()[:32]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _initial(param: Param, typed: str | None, today: dt.date) -> Any:
    """The value the input starts with: what was typed after the command if it converts, else
    the default (a date default such as `today-7d` resolved to a date); None for nothing."""
    if typed is not None:
        try:
            return param.convert(typed, today=today)
        except ArgumentError:
            pass
    if param.kind == "date" and isinstance(param.default, str):
        try:
            return param.convert(param.default, today=today)
        except ArgumentError:
            return None
    return param.default


def _number_text(value: Any) -> str | None:
    """A number as a number input's `initial_value` takes it (plain digits), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value)
    return None if "e" in text.lower() else text


def _choice_option(choice: str) -> Option:
    return Option(value=choice, text=PlainTextObject(text=_cut(choice, OPTION_TEXT_LIMIT)))


def _fits_a_select(choices: Sequence[str]) -> bool:
    return 0 < len(choices) <= MAX_SELECT_OPTIONS and all(0 < len(c) <= OPTION_VALUE_LIMIT for c in choices)


def _element(param: Param, initial: Any) -> Any:
    """The Block Kit element for `param`'s kind, starting at `initial`."""
    if param.kind == "date":
        return DatePickerElement(
            action_id=VALUE_ACTION, initial_date=initial.isoformat() if isinstance(initial, dt.date) else None
        )
    if param.kind == "choice" and param.choices is not None and _fits_a_select(param.choices):
        options = [_choice_option(choice) for choice in param.choices]
        chosen = next((o for o in options if o.value == initial), None)
        return StaticSelectElement(action_id=VALUE_ACTION, options=options, initial_option=chosen)
    if param.kind in ("int", "float"):
        return NumberInputElement(
            action_id=VALUE_ACTION,
            is_decimal_allowed=param.kind == "float",
            initial_value=_number_text(initial),
        )
    if param.kind == "bool":
        yes = Option(value=_YES, text=PlainTextObject(text="Yes"))
        return CheckboxesElement(
            action_id=VALUE_ACTION, options=[yes], initial_options=[yes] if initial is True else None
        )
    # str, and a choice with more (or longer) choices than a select holds: typed as text
    text = initial if isinstance(initial, str) and 0 < len(initial) <= TEXT_INPUT_LIMIT else None
    return PlainTextInputElement(action_id=VALUE_ACTION, initial_value=text, max_length=TEXT_INPUT_LIMIT)


def argument_block(
    report: Report, param: Param, *, typed: str | None = None, today: dt.date | None = None
) -> InputBlock:
    """One input for `param` of `report`, prefilled with `typed` (as after the command) or the
    default. A `bool` is always optional: an unticked box is its "no"."""
    element = _element(param, _initial(param, typed, today or dt.date.today()))
    return InputBlock(
        block_id=arg_block_id(report.name, param.name),
        label=PlainTextObject(text=_cut(param.name, LABEL_LIMIT)),
        element=element,
        hint=PlainTextObject(text=_cut(param.describe(), LABEL_LIMIT)),
        optional=not param.required or param.kind == "bool",
    )


def shown_params(report: Report, limit: int = MAX_ARGUMENT_INPUTS) -> list[Param]:
    """The arguments the form has room for, in the report's order: every required one first
    (the form cannot be submitted without them), then optional ones while there is room."""
    params = list(report.params)
    if len(params) <= limit:
        return params
    required = [p.name for p in params if p.required][:limit]
    optional = [p.name for p in params if not p.required][: limit - len(required)]
    kept = set(required) | set(optional)
    return [p for p in params if p.name in kept]


def argument_blocks(
    report: Report,
    typed: Mapping[str, str] | None = None,
    *,
    today: dt.date | None = None,
    limit: int = MAX_ARGUMENT_INPUTS,
) -> tuple[list[InputBlock], int]:
    """The inputs for `report`'s arguments (at most `limit`) and how many did not fit."""
    typed = typed or {}
    shown = shown_params(report, limit)
    blocks = [argument_block(report, p, typed=typed.get(p.name), today=today) for p in shown]
    return blocks, len(report.params) - len(shown)


def _submitted_text(param: Param, state: Mapping[str, Any]) -> str | None:
    """What was entered in `param`'s input, as the text the command would take; None if empty."""
    kind = string_at(state, "type")
    if kind == "datepicker":
        text = string_at(state, "selected_date")
    elif kind in ("static_select", "radio_buttons"):
        text = string_at(state, "selected_option", "value")
    elif kind == "checkboxes":
        selected = state.get("selected_options")
        ticked = isinstance(selected, list) and any(
            string_at(o, "value") == _YES for o in selected if isinstance(o, dict)
        )
        if not ticked and param.optional and param.default is None:
            return None  # `bool | None` left unticked keeps its default, None
        return "yes" if ticked else "no"
    else:
        text = string_at(state, "value")
    return text or None


def typed_args(
    report: Report, values: Mapping[str, Any], *, today: dt.date | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(`key=value` text for the arguments entered in `values`, a modal's `state.values`;
    errors by block_id, each in plain words). Each value is checked by `Param.convert`, the
    command's own check; an empty optional input is left out, so its default applies."""
    args: dict[str, str] = {}
    errors: dict[str, str] = {}
    for param in report.params:
        block_id = arg_block_id(report.name, param.name)
        block = values.get(block_id)
        state = block.get(VALUE_ACTION) if isinstance(block, Mapping) else None
        text = _submitted_text(param, state) if isinstance(state, Mapping) else None
        if text is None:
            if param.required and isinstance(state, Mapping):
                errors[block_id] = f"{param.name} is required."
            continue
        if len(text) > TEXT_INPUT_LIMIT:
            errors[block_id] = f"That is {len(text):,} characters; the most it takes is {TEXT_INPUT_LIMIT:,}."
            continue
        try:
            param.convert(text, today=today)
        except ArgumentError as exc:
            errors[block_id] = plain_text(exc.message)
            continue
        args[param.name] = text
    return args, errors


_MENTION = re.compile(r"<([@#])([A-Z0-9]+)(?:\|([^<>]*))?>")
_SPECIAL = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^<>]*))?>")


def plain_text(mrkdwn: str, limit: int = ERROR_LIMIT) -> str:
    """A refusal written in mrkdwn, as a modal shows an error: as plain text. Code spans lose
    their backticks, mentions become `@U…`/`#C…`, entities are unescaped (plain text is shown
    as it is, never read as markup).

    >>> plain_text("`days` must be a whole number; you gave `&lt;x&gt;`. Ask <@U1> in <#C2>.")
    'days must be a whole number; you gave <x>. Ask @U1 in #C2.'
    """
    text = _MENTION.sub(lambda m: m.group(1) + (m.group(3) or m.group(2)), mrkdwn)
    text = _SPECIAL.sub(lambda m: m.group(1) or "a user group", text)
    text = text.replace("`", "").replace("*", "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _cut(text, limit)
