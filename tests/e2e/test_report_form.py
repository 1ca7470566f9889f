"""The report form, through the real bot and worker and the fake Slack's modals.

A person who has never seen the command grammar runs a report from the "Run a report" shortcut,
from help's Run… button, or by typing a report without its required arguments: a modal with one
input per argument opens, a bad value is shown under its field, and a good form's job runs in
the channel picked, its result in the status message's thread as for a typed command.
"""

from __future__ import annotations

import json
import time
from typing import Any

ALICE, BOSS = "U0ALICE", "U0BOSS"
CHANNEL = "C0FORMS"
OTHER = "C0PICKED"
# The form's blocks and actions (bot/report_form_view.py, bot/argument_inputs.py).
REPORT_BLOCK, REPORT_ACTION = "report_pick", "report_form.pick"
CHANNEL_BLOCK, CHANNEL_ACTION = "run_channel", "report_form.channel"


def arg(report: str, name: str) -> str:
    return f"arg:{report}:{name}"


def form_of(slack, user: str = ALICE, *, report: str | None = None) -> dict[str, Any]:
    """`user`'s open report form, once it shows `report`'s arguments (if given)."""

    def shown() -> list[dict[str, Any]]:
        views = [v for v in slack.open_views(user) if v.get("callback_id") == "report_form"]
        if report is not None:
            views = [v for v in views if json.loads(v["private_metadata"]).get("report") == report]
        return views

    return dict(slack.wait_for(shown, timeout=10, message=f"the report form for {user} ({report})")[-1])


def ack_text(response: Any) -> str:
    """The ack's text: Bolt answers a command with plain text, or JSON when it has blocks."""
    body = response.body
    return str(body.get("text", "")) if isinstance(body, dict) else str(body or "")


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    found = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert found, f"no {block_id} in {[b.get('block_id') for b in view['blocks']]}"
    return dict(found[0])


def pick(
    slack, view: dict[str, Any], report: str, user: str = ALICE, mode: str | None = None
) -> dict[str, Any]:
    """Choose `report` in the open form; the form as it shows that report's arguments."""
    option = {"text": {"type": "plain_text", "text": report}, "value": report}
    state = {"type": "static_select", "selected_option": option}
    response = slack.view_action(view["id"], REPORT_BLOCK, REPORT_ACTION, state, user=user, mode=mode)
    assert response.ok, response
    return form_of(slack, user, report=report)


def chosen(report: str, channel: str | None = None, **args: dict[str, Any]) -> dict[str, Any]:
    """`state.values` of a form with `report` chosen, `channel` picked and the `args` entered."""
    values: dict[str, Any] = {
        REPORT_BLOCK: {
            REPORT_ACTION: {"type": "static_select", "selected_option": {"value": report}},
        },
        CHANNEL_BLOCK: {CHANNEL_ACTION: {"type": "conversations_select", "selected_conversation": channel}},
    }
    for name, state in args.items():
        values[arg(report, name)] = {"value": state}
    return values


def test_the_shortcut_opens_a_form_and_a_filled_form_runs_the_report_in_the_picked_channel(
    slack, worker, http_bot
):
    ack = slack.send_shortcut("run_report", user=ALICE)
    assert ack.ok and ack.elapsed < 3.0, ack
    form = form_of(slack)
    assert form["title"]["text"] == "Run a report"
    options = [o["value"] for o in block(form, REPORT_BLOCK)["element"]["options"]]
    assert "kinds" in options and "echo" in options
    assert "vault" not in options  # only U0BOSS may run it
    # The shortcut carries no channel: one must be picked.
    assert block(form, CHANNEL_BLOCK).get("optional") is not True

    form = pick(slack, form, "kinds")
    assert block(form, arg("kinds", "since"))["element"]["type"] == "datepicker"
    assert block(form, arg("kinds", "count"))["element"]["type"] == "number_input"
    assert block(form, arg("kinds", "loud"))["element"]["type"] == "checkboxes"
    assert block(form, arg("kinds", "shape"))["element"]["type"] == "static_select"
    assert block(form, arg("kinds", "title"))["element"]["initial_value"] == "Weekly"

    values = chosen(
        "kinds",
        OTHER,
        since={"type": "datepicker", "selected_date": "2026-01-02"},
        title={"type": "plain_text_input", "value": "Q1 <!here>"},
        count={"type": "number_input", "value": "4"},
        ratio={"type": "number_input", "value": None},
        loud={"type": "checkboxes", "selected_options": [{"value": "yes"}]},
        shape={"type": "static_select", "selected_option": {"value": "line"}},
    )
    ack = slack.submit_view(form["id"], values, user=ALICE)
    assert ack.ok and ack.elapsed < 3.0, ack
    assert not (isinstance(ack.body, dict) and ack.body.get("response_action")), ack.body
    assert slack.open_views(ALICE) == []  # the form closed

    status = slack.wait_for(
        lambda: [
            m for m in slack.messages(OTHER) if "succeeded" in str(m.blocks) and slack.thread(OTHER, m.ts)
        ],
        timeout=20,
        message="the form's job to succeed",
    )[0]
    [result] = slack.thread(OTHER, status.ts)
    assert "since=2026-01-02 title=Q1 &lt;!here&gt; count=4 ratio=0.5 loud=True shape=line" in result.text
    slack.wait_for(
        lambda: [e for e in slack.ephemerals(user=ALICE, channel=OTHER) if "Queued *kinds*" in e.text],
        timeout=5,
        message="the private note of what was queued",
    )


def test_a_bad_value_is_shown_under_its_field_and_nothing_is_queued(slack, worker, http_bot):
    form = pick(slack, _shortcut_form(slack), "kinds")
    values = chosen(
        "kinds",
        CHANNEL,
        since={"type": "datepicker", "selected_date": "2026-02-30"},
        count={"type": "number_input", "value": "4.5"},
    )
    ack = slack.submit_view(form["id"], values, user=ALICE)
    assert ack.body["response_action"] == "errors", ack.body
    errors = slack.open_views(ALICE)[-1]["errors"]
    assert set(errors) == {arg("kinds", "since"), arg("kinds", "count")}
    assert errors[arg("kinds", "count")].startswith("count must be a whole number")
    time.sleep(1.0)  # long enough for the worker to have posted a status message
    assert slack.messages(CHANNEL) == []


def test_a_command_missing_a_required_argument_opens_the_form_with_what_was_typed(slack, worker, http_bot):
    response = slack.send_command("/run-report", "kinds count=8 shape=line", channel=CHANNEL, user=ALICE)
    assert response.ok, response
    assert "Opening a form for `kinds`: fill in `since` there." in ack_text(response)
    form = form_of(slack, report="kinds")
    assert block(form, REPORT_BLOCK)["element"]["initial_option"]["value"] == "kinds"
    assert block(form, arg("kinds", "count"))["element"]["initial_value"] == "8"
    assert block(form, arg("kinds", "shape"))["element"]["initial_option"]["value"] == "line"
    assert block(form, CHANNEL_BLOCK)["element"]["initial_conversation"] == CHANNEL
    # Filled in and submitted without picking a channel, it runs where the command was typed.
    values = chosen(
        "kinds",
        None,
        since={"type": "datepicker", "selected_date": "2026-01-02"},
        count={"type": "number_input", "value": "8"},
    )
    assert slack.submit_view(form["id"], values, user=ALICE).ok
    slack.wait_for(
        lambda: [m for m in slack.messages(CHANNEL) if "succeeded" in str(m.blocks)],
        timeout=20,
        message="the job the form queued",
    )


def test_help_has_a_run_button_that_opens_the_form_at_the_report(slack, worker, http_bot):
    response = slack.send_command("/run-report", "help echo", channel=CHANNEL, user=ALICE)
    [button, _] = [e for b in response.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == "report_form.open" and button["value"] == "echo"
    click = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "is_ephemeral": True, "channel_id": CHANNEL},
        "actions": [
            {"type": "button", "action_id": button["action_id"], "block_id": "help_actions", "value": "echo"}
        ],
    }
    assert slack.send_interaction(click).ok
    form = form_of(slack, report="echo")
    assert block(form, arg("echo", "text"))["element"]["initial_value"] == "hello"
    assert block(form, CHANNEL_BLOCK)["element"]["initial_conversation"] == CHANNEL


def test_help_has_a_schedule_button_that_opens_the_schedule_form_at_the_report(slack, worker, http_bot):
    response = slack.send_command("/run-report", "help echo", channel=CHANNEL, user=ALICE)
    [_, button] = [e for b in response.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["text"]["text"], button["action_id"], button["value"]) == (
        "Schedule…",
        "schedule_form.open",
        "report:echo",
    )
    click = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "is_ephemeral": True, "channel_id": CHANNEL},
        "actions": [
            {
                "type": "button",
                "action_id": "schedule_form.open",
                "block_id": "help_actions",
                "value": "report:echo",
            }
        ],
    }
    assert slack.send_interaction(click).ok
    [form] = slack.wait_for(lambda: slack.open_views(ALICE), timeout=10, message="the schedule form")
    assert form["callback_id"] == "schedule_form", form["callback_id"]
    [picker] = [b for b in form["blocks"] if b.get("block_id") == "report"]
    assert picker["element"]["initial_option"]["value"] == "echo", "the report is chosen"


def test_someone_without_access_is_refused_in_the_form_and_nothing_is_queued(slack, worker, http_bot):
    form = _shortcut_form(slack)
    # The picker never offers `vault` to ALICE; a forged submission of it is refused all the same.
    ack = slack.submit_view(form["id"], chosen("vault", CHANNEL), user=ALICE)
    assert ack.body["response_action"] == "errors", ack.body
    assert "You cannot run vault here" in slack.open_views(ALICE)[-1]["errors"][REPORT_BLOCK]
    time.sleep(1.0)
    assert slack.messages(CHANNEL) == []


def test_the_form_works_over_socket_mode_too(slack, worker, socket_bot):
    assert slack.send_shortcut("run_report", user=BOSS, mode="socket").ok
    form = form_of(slack, BOSS)
    assert "vault" in [o["value"] for o in block(form, REPORT_BLOCK)["element"]["options"]]
    form = pick(slack, form, "echo", user=BOSS, mode="socket")
    bad = chosen("echo", CHANNEL, times={"type": "number_input", "value": "twice"})
    ack = slack.submit_view(form["id"], bad, user=BOSS, mode="socket")
    assert ack.body["response_action"] == "errors", ack.body
    assert "times must be a whole number" in slack.open_views(BOSS)[-1]["errors"][arg("echo", "times")]
    good = chosen("echo", CHANNEL, text={"type": "plain_text_input", "value": "over the socket"})
    assert slack.submit_view(form["id"], good, user=BOSS, mode="socket").ok
    status = slack.wait_for(
        lambda: [
            m for m in slack.messages(CHANNEL) if "succeeded" in str(m.blocks) and slack.thread(CHANNEL, m.ts)
        ],
        timeout=20,
        message="the form's job, submitted over Socket Mode",
    )[0]
    assert "over the socket" in slack.thread(CHANNEL, status.ts)[0].text


def _shortcut_form(slack) -> dict[str, Any]:
    assert slack.send_shortcut("run_report", user=ALICE).ok
    return form_of(slack)


def test_when_the_form_cannot_open_the_command_says_what_it_needs_as_before(slack, worker, http_bot):
    slack.fail("views.open", "expired_trigger_id")
    response = slack.send_command("/run-report", "kinds count=8", channel=CHANNEL, user=ALICE)
    assert "Opening a form" in ack_text(response)
    said = slack.wait_for(
        lambda: [e for e in slack.ephemerals(user=ALICE, channel=CHANNEL) if "needs" in e.text],
        timeout=5,
        message="the command's own answer, once the form failed to open",
    )
    assert "`kinds` needs `since=" in said[0].text and "For example" in said[0].text
    assert slack.open_views(ALICE) == []
