"""The schedule form's modal: its fields, what a person entered in them, and its preview.

Pure: a `FormState` (what the fields hold, as text) goes in, a view dict built with slack_sdk's
Block Kit models comes out, and `read_state` turns Slack's `view.state.values` back into a
`FormState`. The same builder draws a new form, a form prefilled from a schedule and every
update after a field changes, so what the person sees never depends on how the form was reached.

The rule has three kinds, each with its own fields: every N minutes/hours/days, a time of day on
some weekdays (stored as the cron rule `M H * * <days>`, so `schedule list` shows it as typed
commands do) and a cron rule. `rule_of` turns the fields into a `Rule`, or a `FieldError` naming
the field that is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ConversationFilter,
    ConversationSelectElement,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.blocks.block_elements import CheckboxesElement, NumberInputElement, TimePickerElement
from slack_sdk.models.views import View

from bot.argument_inputs import VALUE_ACTION, arg_block_id, argument_block, shown_params, typed_args
from bot.slack_payload import metadata_object, string_at
from tasks.errors import UserError
from tasks.reports import Registry, Report
from tasks.schedules.preview import preview_runs
from tasks.schedules.schedule import (
    CRON_EXAMPLE,
    MAX_EVERY_SECONDS,
    SCHEDULE_ID,
    Rule,
    Schedule,
    ScheduleError,
    describe_seconds,
    zone,
)
from tasks.slack.ids import valid_channel_id
from tasks.slack.mrkdwn import escape_mrkdwn

#: The modal's callback_id: its view_submission comes back to `bot.schedule_form` under it.
CALLBACK_ID = "schedule_form"
#: Every field's action_id starts with this, so one listener redraws the form on any change.
FIELD_PREFIX = "schedule_form.field."

KINDS = {"every": "Every N minutes, hours or days", "weekly": "At a time of day", "cron": "A cron rule"}
#: Units of an interval; seconds only where the shortest interval allowed is under a minute, or
#: to a schedule that already counts in them.
UNITS = {"m": ("minutes", 60), "h": ("hours", 3600), "d": ("days", 86400), "s": ("seconds", 1)}
#: Crontab day numbers (0 = Sunday), in the order a week is shown.
WEEKDAYS = (("1", "Mon"), ("2", "Tue"), ("3", "Wed"), ("4", "Thu"), ("5", "Fri"), ("6", "Sat"), ("0", "Sun"))
WORKWEEK = ("1", "2", "3", "4", "5")
#: Zones offered in the zone select; the person's own zone (or the schedule's) is added first.
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
#: The longest text a field keeps (a cron rule, an argument's value): longer is not typed by hand.
MAX_FIELD = 500
#: Arguments drawn as inputs (the rest of the 100 blocks a modal holds is the form's own);
#: a report with more is scheduled with the typed command.
MAX_ARGS = 80
#: Reports offered in the report select (Slack's limit for a static select).
MAX_REPORTS = 100

_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_WEEKLY = re.compile(r"([0-9]{1,2}) ([0-9]{1,2}) \* \* (\S+)")


class FieldError(UserError):
    """What is wrong with one field of the form: shown under it (`response_action: errors`)."""

    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.block_id = block_id


@dataclass(frozen=True)
class FormState:
    """What the form's fields hold, as the person entered it (text; checked by `rule_of`)."""

    report: str = ""
    args: dict[str, str] = field(default_factory=dict)
    kind: str = "weekly"
    every_n: str = "1"
    every_unit: str = "d"
    time: str = "09:00"
    weekdays: tuple[str, ...] = WORKWEEK
    cron: str = CRON_EXAMPLE
    tz: str = "UTC"
    channel: str = ""


@dataclass(frozen=True)
class FormContext:
    """What the form remembers in its private_metadata: the schedule it edits ("" for a new
    one) and the channel it was opened from ("" from the App Home or a shortcut)."""

    schedule_id: str = ""
    channel: str = ""

    def dump(self) -> str:
        return json.dumps({"schedule": self.schedule_id, "channel": self.channel})

    @classmethod
    def load(cls, text: str) -> FormContext:
        """The context back from private_metadata; anything not shaped as ours reads as empty."""
        data = metadata_object(text)
        schedule_id = data.get("schedule")
        return cls(
            schedule_id=schedule_id
            if isinstance(schedule_id, str) and SCHEDULE_ID.fullmatch(schedule_id)
            else "",
            channel=valid_channel_id(data.get("channel")),
        )


# -- from and to rules ------------------------------------------------------------------------


def state_of(schedule: Schedule) -> FormState:
    """The form's fields for an existing schedule, so editing starts from what it is."""
    base = FormState(
        report=schedule.report, args=dict(schedule.args), tz=schedule.rule.tz, channel=schedule.channel
    )
    rule = schedule.rule
    if rule.every_seconds:
        unit = next(u for u in ("d", "h", "m", "s") if rule.every_seconds % UNITS[u][1] == 0)
        return replace(base, kind="every", every_n=str(rule.every_seconds // UNITS[unit][1]), every_unit=unit)
    cron = rule.cron or ""
    weekly = _WEEKLY.fullmatch(cron)
    days = _weekday_set(weekly.group(3)) if weekly else None
    if weekly and days and int(weekly.group(1)) < 60 and int(weekly.group(2)) < 24:
        hour, minute = int(weekly.group(2)), int(weekly.group(1))
        return replace(base, kind="weekly", time=f"{hour:02d}:{minute:02d}", weekdays=days)
    return replace(base, kind="cron", cron=cron)


def rule_block(state: FormState) -> str:
    """The block where a refusal of the rule itself is shown: the kind's main field."""
    return {"every": "every_n", "weekly": "time", "cron": "cron"}.get(state.kind, "kind")


def rule_of(state: FormState) -> Rule:
    """The rule the fields describe; FieldError naming the field that is wrong."""
    try:
        zone(state.tz)
    except ScheduleError as exc:
        raise FieldError("tz", exc.message) from None
    if state.kind == "every":
        if not state.every_n.strip().isdigit() or int(state.every_n) < 1:
            raise FieldError("every_n", "A whole number above 0, like 6.")
        if state.every_unit not in UNITS:
            raise FieldError("every_unit", "Pick minutes, hours or days.")
        seconds = int(state.every_n) * UNITS[state.every_unit][1]
        if seconds > MAX_EVERY_SECONDS:
            raise FieldError(
                "every_n",
                f"At most {describe_seconds(MAX_EVERY_SECONDS)}; use a cron rule for longer rhythms.",
            )
        return Rule(every_seconds=seconds, tz=state.tz)
    if state.kind == "weekly":
        found = _TIME.fullmatch(state.time.strip())
        if not found:
            raise FieldError("time", "A time of day as HH:MM, like 09:00.")
        if not state.weekdays:
            raise FieldError("weekdays", "Pick at least one day.")
        days = _days_field(state.weekdays)
        return Rule(cron=f"{int(found.group(2))} {int(found.group(1))} * * {days}", tz=state.tz)
    if state.kind == "cron":
        text = " ".join(state.cron.split())
        if not text:
            raise FieldError(
                "cron", f"Five fields: minute, hour, day of month, month, day of week, like {CRON_EXAMPLE}."
            )
        return Rule(cron=text, tz=state.tz)
    raise FieldError("kind", "Pick how often it runs.")


def _days_field(days: Sequence[str]) -> str:
    """Crontab day numbers as a day-of-week field: `*` for all, `1-5` for a run, else a list."""
    numbers = sorted({int(d) for d in days if d.isdigit() and int(d) < 7})
    if len(numbers) == 7:
        return "*"
    if len(numbers) >= 3 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ",".join(str(n) for n in numbers)


def _weekday_set(text: str) -> tuple[str, ...] | None:
    """The crontab day numbers a day-of-week field of numbers names (`*`, `1-5`, `0,6`); None
    for anything else (names, steps), which the form then shows as a cron rule."""
    if text == "*":
        return tuple(number for number, _ in WEEKDAYS)
    days: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        start, end = int(low), int(high or low)
        if end > 7 or start > end:
            return None
        days.update(d % 7 for d in range(start, end + 1))
    return tuple(number for number, _ in WEEKDAYS if int(number) in days)


# -- reading the form ---------------------------------------------------------------------------


def read_state(values: object, registry: Registry | None = None) -> FormState:
    """The form's fields from `view.state.values` (untrusted: read with `string_at`, capped);
    the arguments are read for the picked report, if `registry` has it."""
    if not isinstance(values, Mapping):
        values = {}
    report_name = string_at(values, "report", FIELD_PREFIX + "report", "selected_option", "value")[:100]
    report = registry.get(report_name) if registry is not None and report_name else None

    def text(block: str, key: str = "value") -> str:
        return string_at(values, block, FIELD_PREFIX + block, key)[:MAX_FIELD]

    picked = _selected(values, "weekdays")
    defaults = FormState()
    return FormState(
        report=report_name,
        args=read_args(report, values)[0],
        kind=string_at(values, "kind", FIELD_PREFIX + "kind", "selected_option", "value") or defaults.kind,
        every_n=text("every_n") or defaults.every_n,
        every_unit=string_at(values, "every_unit", FIELD_PREFIX + "every_unit", "selected_option", "value")
        or defaults.every_unit,
        time=text("time", "selected_time") or text("time") or defaults.time,
        weekdays=defaults.weekdays if picked is None else tuple(n for n, _ in WEEKDAYS if n in picked),
        cron=text("cron") if "cron" in values else defaults.cron,
        tz=string_at(values, "tz", FIELD_PREFIX + "tz", "selected_option", "value")[:64] or defaults.tz,
        channel=valid_channel_id(
            string_at(values, "channel", FIELD_PREFIX + "channel", "selected_conversation")
        ),
    )


def _selected(values: Mapping[Any, Any], block: str) -> list[str] | None:
    """The values of the options checked in a checkboxes field; None if the field is absent."""
    entry = values.get(block)
    entry = entry.get(FIELD_PREFIX + block) if isinstance(entry, Mapping) else None
    options = entry.get("selected_options") if isinstance(entry, Mapping) else None
    if not isinstance(options, list):
        return None
    return [string_at(option, "value") for option in options if isinstance(option, Mapping)]


# -- the preview --------------------------------------------------------------------------------


def preview_text(state: FormState, min_interval: int, now: datetime) -> str:
    """The preview section: the next three runs in the form's zone, each flagged when a clock
    change moves, skips or repeats it; or why the rule cannot be saved, in words."""
    try:
        rule = rule_of(state)
        runs = preview_runs(rule, now, min_interval)
    except UserError as exc:
        return f":warning: {exc.message}"
    lines = [f"*Next runs* ({escape_mrkdwn(rule.tz)}):"]
    for run in runs:
        line = f"• {run.at:%a %d %b %Y %H:%M %Z}"
        if run.note:
            line += f"\n    :warning: _{escape_mrkdwn(run.note)}_"
        lines.append(line)
    return "\n".join(lines)


# -- the views ----------------------------------------------------------------------------------


def form_view(
    state: FormState,
    context: FormContext,
    *,
    reports: Sequence[Report],
    preview: str,
    min_interval: int = 60,
) -> dict[str, Any]:
    """The form as a modal view dict, every field filled from `state`."""
    editing = bool(context.schedule_id)
    blocks: list[Block] = [_report_input(state, reports)]
    report = next((r for r in reports if r.name == state.report), None)
    if report is not None:
        blocks.extend(argument_inputs(report, state.args))
    blocks.append(
        _input(
            "kind",
            "How often",
            RadioButtonsElement(options=_options(KINDS), initial_option=_option(state.kind, KINDS)),
        )
    )
    blocks.extend(_rule_inputs(state, seconds=min_interval < 60))
    zones = _zones(state.tz)
    blocks.append(
        _input(
            "tz",
            "Time zone",
            StaticSelectElement(options=_options(zones), initial_option=_option(state.tz, zones)),
            hint="Times of day are in this zone.",
        )
    )
    blocks.append(
        InputBlock(
            block_id="channel",
            label="Post in",
            element=ConversationSelectElement(
                action_id=FIELD_PREFIX + "channel",
                initial_conversation=state.channel or None,
                filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
                placeholder="A channel",
            ),
        )
    )
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(block_id="preview", text=MarkdownTextObject(text=preview[:3000])))
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title="Edit schedule" if editing else "New schedule",
        submit="Save changes" if editing else "Save schedule",
        close="Cancel",
        private_metadata=context.dump(),
        blocks=blocks,
    )
    return view.to_dict()


def message_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal, or what was saved), closed with Done."""
    view = View(
        type="modal",
        callback_id=CALLBACK_ID + ".done",
        title=title[:24],
        close="Done",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text[:3000]))],
    )
    return view.to_dict()


def argument_inputs(report: Report, args: Mapping[str, str]) -> list[Block]:
    """One input per argument of `report`, filled from `args` or its default, drawn by the report
    form's builder (`bot.argument_inputs`) so both forms show an argument alike; except a date,
    which stays text here: a schedule's `today-7d` must count from each run's day, not freeze
    into the date a date picker would hold."""
    inputs: list[Block] = []
    for param in shown_params(report, MAX_ARGS):
        if param.kind != "date":
            inputs.append(argument_block(report, param, typed=args.get(param.name)))
            continue
        default = param.default.isoformat() if isinstance(param.default, dt.date) else param.default
        current = args.get(param.name) or (str(default) if default else None)
        inputs.append(
            InputBlock(
                block_id=arg_block_id(report.name, param.name),
                label=param.name,
                element=PlainTextInputElement(
                    action_id=VALUE_ACTION,
                    initial_value=current[:MAX_FIELD] if current else None,
                    placeholder="today-7d, yesterday or 2024-05-01",
                    max_length=MAX_FIELD,
                ),
                hint=f"{param.describe()}. today, yesterday and today-7d count from each run's day."[:2000],
                optional=not param.required,
            )
        )
    return inputs


def read_args(report: Report | None, values: Mapping[Any, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(the arguments entered in `argument_inputs`' fields, as the text the command takes; what
    is wrong with them, by block) — the report form's reading, `bot.argument_inputs.typed_args`."""
    if report is None:
        return {}, {}
    return typed_args(report, values)


def _report_input(state: FormState, reports: Sequence[Report]) -> InputBlock:
    shown = list(reports[:MAX_REPORTS])
    picked = next((r for r in reports if r.name == state.report), None)
    if picked is not None and picked not in shown:  # past Slack's 100 options: kept, in the last place
        shown[-1] = picked
    names = {r.name: r.name for r in shown}
    return _input(
        "report",
        "Report",
        StaticSelectElement(
            options=_options(names) or [Option(value="-", text="no reports")],
            initial_option=_option(state.report, names),
            placeholder="Pick a report",
        ),
    )


def _rule_inputs(state: FormState, seconds: bool = False) -> list[Block]:
    """The fields of the chosen kind of rule."""
    if state.kind == "every":
        units = {u: name for u, (name, _) in UNITS.items() if u != "s" or seconds or state.every_unit == "s"}
        return [
            _input(
                "every_n",
                "Every",
                NumberInputElement(
                    action_id=FIELD_PREFIX + "every_n",
                    is_decimal_allowed=False,
                    initial_value=state.every_n if state.every_n.isdigit() else None,
                    min_value="1",
                    dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_character_entered"]),
                ),
            ),
            _input(
                "every_unit",
                "Unit",
                StaticSelectElement(options=_options(units), initial_option=_option(state.every_unit, units)),
            ),
        ]
    if state.kind == "weekly":
        days = dict(WEEKDAYS)
        return [
            _input(
                "time",
                "Time of day",
                TimePickerElement(
                    action_id=FIELD_PREFIX + "time",
                    initial_time=state.time if _TIME.fullmatch(state.time) else "09:00",
                ),
            ),
            _input(
                "weekdays",
                "On",
                CheckboxesElement(
                    options=_options(days),
                    initial_options=[o for o in _options(days) if o.value in state.weekdays] or None,
                ),
            ),
        ]
    return [
        _input(
            "cron",
            "Cron rule",
            PlainTextInputElement(
                action_id=FIELD_PREFIX + "cron",
                initial_value=state.cron[:MAX_FIELD] or None,
                placeholder=CRON_EXAMPLE,
                max_length=100,
                dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_character_entered"]),
            ),
            hint="minute hour day-of-month month day-of-week (0 = Sunday); 0 9 * * 1-5 is 09:00 on weekdays.",
        )
    ]


def _input(block_id: str, label: str, element: Any, hint: str | None = None) -> InputBlock:
    """An input that redraws the form (its preview) whenever it changes."""
    element.action_id = FIELD_PREFIX + block_id
    return InputBlock(block_id=block_id, label=label, element=element, hint=hint, dispatch_action=True)


def _zones(current: str) -> dict[str, str]:
    """The zones offered: the common ones, and first the current one if it is a real zone."""
    names = list(COMMON_ZONES)
    if current and current not in names and _is_zone(current):
        names.insert(0, current)
    return {name: name.replace("_", " ") for name in names[:100]}


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except ScheduleError:
        return False
    return True


def _options(choices: Mapping[str, str]) -> list[Option]:
    return [Option(value=value[:150], text=text[:75]) for value, text in choices.items()]


def _option(value: str, choices: Mapping[str, str]) -> Option | None:
    return Option(value=value[:150], text=choices[value][:75]) if value in choices else None
