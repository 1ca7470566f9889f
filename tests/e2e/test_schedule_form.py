"""The schedule form through the real bot, beat and worker, and the fake Slack's modals.

A person who never saw the grammar: clicks "Schedule…" under `schedule list`, picks a report and
a rhythm in the modal, watches the preview follow, saves; `schedule list` shows the schedule and
beat fires it. Editing uses the same form; wrong fields are named under them; where admins are
set, anyone else is refused. The bot is test_schedules' (SCHEDULE_MIN_INTERVAL=2, one admin).
"""

from __future__ import annotations

import re
from typing import Any

from tests.e2e import test_schedules
from tests.e2e.test_schedules import ADMIN, command, runs_of
from tests.form_values import option, values_of

# test_schedules' bot, beats and clean slate, under the names the tests ask for them by.
reports_file = test_schedules.reports_file
schedule_bot = test_schedules.schedule_bot
no_schedules = test_schedules.no_schedules
beats = test_schedules.beats

ALICE = "U0ALICE"
FORM_ACTION = "schedule_form.open"
SAVED_ID = re.compile(r"as `(s-[0-9a-f]{6})`")


def click(slack: Any, channel: str, value: str, user: str = ADMIN, mode: str = "http") -> None:
    """A click on a "Schedule…" (or Edit) button in a message of `channel`."""
    action = {"type": "button", "action_id": FORM_ACTION, "block_id": "b", "action_ts": "1.0"}
    if value:
        action["value"] = value
    ack = slack.send_interaction(
        {"type": "block_actions", "user": {"id": user}, "channel": {"id": channel}, "actions": [action]},
        mode=mode,
    )
    assert ack.ok, ack


def top_view(slack: Any, user: str, has: str, message: str, where: str = "blocks") -> dict[str, Any]:
    """The user's topmost modal once its blocks (or its preview) mention `has`."""

    def found() -> dict[str, Any] | None:
        stack = slack.open_views(user)
        if not stack:
            return None
        shown = preview(stack[-1]) if where == "preview" else str(stack[-1]["blocks"])
        return stack[-1] if has in shown else None

    return slack.wait_for(found, timeout=10, message=message)


def blocks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if "block_id" in block}


def preview(view: dict[str, Any]) -> str:
    return str(blocks_of(view)["preview"]["text"]["text"])


def unit_of(view: dict[str, Any]) -> str:
    picked = blocks_of(view).get("every_unit", {}).get("element", {}).get("initial_option") or {}
    return str(picked.get("value", ""))


def change(
    slack: Any, view: dict[str, Any], block: str, state: dict[str, Any], user: str = ADMIN, mode: str = "http"
) -> None:
    """The person changes one field of the modal (its block_actions, as dispatch_action sends it)."""
    values = values_of(view, **{block.replace(".", "__"): state})  # Slack's state has the change
    ack = slack.view_action(
        view["id"], block, f"schedule_form.field.{block}", state, user=user, values=values
    )
    assert ack.ok, ack


def test_a_schedule_made_with_the_form_is_listed_and_fired_by_beat(
    slack, worker, schedule_bot, no_schedules, beats
):
    channel = "C0FORM"
    listing = slack.send_command("/run-report", "schedule list", channel=channel, user=ADMIN)
    assert "Schedule…" in str(listing.body), listing.body

    click(slack, channel, "")
    form = top_view(slack, ADMIN, "Pick a report", "the new schedule form")
    assert form["title"]["text"] == "New schedule"
    change(slack, form, "report", {"type": "static_select", **option("echo")})
    form = top_view(slack, ADMIN, "arg:echo:text", "the form redrawn with echo's argument")
    change(slack, form, "kind", {"type": "radio_buttons", **option("every")})
    form = top_view(slack, ADMIN, "every_n", "the form redrawn with the interval's fields")
    change(slack, form, "every_n", {"type": "number_input", "value": "5"})
    form = top_view(slack, ADMIN, "'initial_value': '5'", "the form redrawn with 5")
    change(slack, form, "every_unit", {"type": "static_select", **option("s")})
    form = slack.wait_for(
        lambda: next(
            (v for v in slack.open_views(ADMIN)[-1:] if unit_of(v) == "s" and "Next runs" in preview(v)), None
        ),
        timeout=10,
        message="the form redrawn in seconds, with its preview",
    )

    values = values_of(
        form, **{"arg:echo:text": {"value": "from the form"}}, every_n={"value": "5"}, every_unit=option("s")
    )
    ack = slack.submit_view(form["id"], values, user=ADMIN)
    assert ack.ok, ack

    saved = top_view(slack, ADMIN, "Scheduled", "the form to say what it saved")
    match = SAVED_ID.search(str(saved["blocks"]))
    assert match, saved
    schedule_id = match.group(1)
    assert saved["title"]["text"] == "Schedule saved" and "every 5s" in str(saved["blocks"])
    assert schedule_id in command(slack, "schedule list", channel)

    beats.start(1)
    slack.wait_for(lambda: len(runs_of(slack, channel, schedule_id)) >= 2, timeout=30, message="two runs")
    assert "from the form" in runs_of(slack, channel, schedule_id)[0].text


def test_editing_in_the_form_changes_the_rule_under_the_same_id(slack, schedule_bot, no_schedules):
    channel = "C0FORMEDIT"
    added = command(slack, "schedule add echo text=hi every 1h tz=UTC", channel)
    schedule_id = SAVED_ID.search(added).group(1)  # type: ignore[union-attr]

    click(slack, channel, schedule_id)
    form = top_view(slack, ADMIN, "every_n", "the edit form")
    assert form["title"]["text"] == "Edit schedule"
    assert blocks_of(form)["arg:echo:text"]["element"]["initial_value"] == "hi"
    change(slack, form, "kind", {"type": "radio_buttons", **option("cron")})
    form = top_view(slack, ADMIN, "Cron rule", "the form redrawn with the cron field")

    ack = slack.submit_view(form["id"], values_of(form, cron={"value": "0 6 * * 1"}), user=ADMIN)
    assert ack.ok, ack

    top_view(slack, ADMIN, "now runs", "the form to say what changed")
    listed = command(slack, "schedule list", channel)
    assert f"`{schedule_id}`" in listed and 'cron "0 6 * * 1"' in listed and "every 1h" not in listed


def test_each_wrong_field_is_named_under_it_and_nothing_is_saved(slack, schedule_bot, no_schedules):
    channel = "C0FORMBAD"
    click(slack, channel, "report:echo")
    form = top_view(slack, ADMIN, "arg:echo:text", "the form, echo picked")
    change(slack, form, "kind", {"type": "radio_buttons", **option("cron")})
    form = top_view(slack, ADMIN, "Cron rule", "the form redrawn with the cron field")
    change(slack, form, "cron", {"type": "plain_text_input", "value": "61 * * * *"})
    form = top_view(slack, ADMIN, "is not valid", "the preview to say why the rule is wrong", where="preview")

    ack = slack.submit_view(form["id"], values_of(form, cron={"value": "61 * * * *"}), user=ADMIN)

    assert ack.ok, ack
    (still,) = slack.open_views(ADMIN)
    assert list(still["errors"]) == ["cron"] and "is not valid" in still["errors"]["cron"], still["errors"]
    assert "has no schedules" in command(slack, "schedule list", channel)


def test_someone_not_an_admin_is_refused_where_admins_are_set(slack, schedule_bot, no_schedules):
    channel = "C0FORMNO"
    click(slack, channel, "", user=ALICE)

    refusal = top_view(slack, ALICE, "may add schedules", "the refusal")

    assert not refusal.get("submit") and f"<@{ADMIN}>" in str(refusal["blocks"])  # nothing to submit
    assert "has no schedules" in command(slack, "schedule list", channel)


def test_over_socket_mode_the_same_form_refuses_a_wrong_field_then_saves(slack, socket_bot, no_schedules):
    channel, user = "C0FORMSOCK", "U0BOB"  # the session's socket bot has no admins: anyone may
    click(slack, channel, "report:echo", user=user, mode="socket")
    form = top_view(slack, user, "arg:echo:text", "the form over Socket Mode")
    change(slack, form, "kind", {"type": "radio_buttons", **option("cron")}, user=user, mode="socket")
    form = top_view(slack, user, "Cron rule", "the form redrawn over Socket Mode")

    refused = slack.submit_view(
        form["id"], values_of(form, cron={"value": "0 9 * *"}), user=user, mode="socket"
    )
    assert refused.ok, refused
    assert "has 4 fields" in slack.open_views(user)[-1]["errors"].get("cron", ""), slack.open_views(user)

    saved = slack.submit_view(
        form["id"], values_of(form, cron={"value": "0 9 * * 1"}), user=user, mode="socket"
    )
    assert saved.ok, saved
    done = top_view(slack, user, "Scheduled", "the form to say what it saved")
    schedule_id = SAVED_ID.search(str(done["blocks"])).group(1)  # type: ignore[union-attr]
    listed = slack.send_command("/run-report", "schedule list", channel=channel, user=user, mode="socket")
    assert schedule_id in str(listed.body) and 'cron "0 9 * * 1"' in str(listed.body), listed.body


def test_edit_in_the_app_home_opens_the_same_form_and_saving_updates_the_home(
    slack, schedule_bot, no_schedules
):
    import json

    import redis

    from tests.support import REDIS_PREFIX, REDIS_URL

    channel = "C0FORMHOME"
    slack.open_home(ADMIN)
    try:
        added = command(slack, "schedule add echo text=hi every 1h tz=UTC", channel)
        schedule_id = SAVED_ID.search(added).group(1)  # type: ignore[union-attr]
        slack.wait_for(lambda: schedule_id in json.dumps(slack.home(ADMIN)), timeout=15, message="the Home")

        ack = slack.home_action(ADMIN, FORM_ACTION, schedule_id)  # its Edit… button
        assert ack.ok, ack
        form = top_view(slack, ADMIN, "every_n", "the edit form from the Home")
        assert form["title"]["text"] == "Edit schedule"
        saved = slack.submit_view(form["id"], values_of(form, every_n={"value": "2"}), user=ADMIN)
        assert saved.ok, saved

        top_view(slack, ADMIN, "now runs", "the form to say what changed")
        slack.wait_for(
            lambda: "every 2h" in json.dumps(slack.home(ADMIN)),
            timeout=15,
            message="the Home with the new rule",
        )
    finally:
        redis.Redis.from_url(REDIS_URL).delete(f"{REDIS_PREFIX}home:opened:{ADMIN}")


def test_schedule_in_the_report_form_stacks_the_schedule_form_on_it_with_that_report(
    slack, schedule_bot, no_schedules
):
    channel = "C0FORMSTACK"
    ack = slack.send_interaction(
        {
            "type": "block_actions",
            "user": {"id": ADMIN},
            "channel": {"id": channel},
            "actions": [
                {"type": "button", "action_id": "report_form.open", "value": "echo", "block_id": "b"}
            ],
        }
    )
    assert ack.ok, ack
    report_form = top_view(slack, ADMIN, "Schedule…", "the report form at echo")
    button_block = next(
        b["block_id"] for b in report_form["blocks"] if FORM_ACTION in str(b) and b["type"] == "actions"
    )

    clicked = slack.view_action(report_form["id"], button_block, FORM_ACTION, "report:echo", user=ADMIN)

    assert clicked.ok, clicked
    stack = slack.wait_for(
        lambda: next((views for views in [slack.open_views(ADMIN)] if len(views) == 2), None),
        timeout=10,
        message="the schedule form pushed over the report form",
    )
    form = stack[1]
    assert stack[0]["id"] == report_form["id"]
    assert form["title"]["text"] == "New schedule"
    assert blocks_of(form)["report"]["element"]["initial_option"]["value"] == "echo"
    assert blocks_of(form)["channel"]["element"].get("initial_conversation") is None  # to be picked
