"""The report form: the modal each report gets, and what submitting it does.

Views are built with slack_sdk's models, whose `to_dict()` checks Slack's limits, so every view
here is also a view Slack would take. Submissions go through the real `CommandHandler` (its
checks, job cap and records on an in-memory store) with a publisher that records what it would
have queued, and a Web API that records what would have been sent to Slack: no services.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.after_ack import AfterAck
from bot.argument_inputs import MAX_ARGUMENT_INPUTS, arg_block_id, plain_text, typed_args
from bot.commands import CommandHandler, Reply
from bot.publish import Publisher
from bot.report_form import RUN_FORM_ACTION, ReportForm, help_blocks, reports_for
from bot.report_form_view import (
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    REPORT_ACTION,
    REPORT_BLOCK,
    SCHEDULE_FORM_ACTION,
    FormContext,
    read_metadata,
    report_form_view,
)
from tasks.jobs.access import Access, GroupDirectory
from tasks.jobs.records import Job, JobRecords
from tasks.reports import Param, Registry, Report, load_reports
from tasks.settings import Settings
from tasks.slack.web_api import WebApi
from tasks.store import MemoryStore
from tests.support import BOT_TOKEN, TEST_REPORTS

pytestmark = pytest.mark.unit

ALICE, BOSS, CHANNEL = "U0ALICE", "U0BOSS", "C0FORM"
TODAY = dt.date(2026, 3, 10)


def _kinds(
    since: dt.date,
    title: str = "Weekly",
    count: int = 3,
    ratio: float = 0.5,
    loud: bool = False,
    shape: Literal["bar", "line"] = "bar",
) -> str:
    return ""


KINDS = Report.from_function(_kinds, name="kinds", help="One of each")


def view_of(report: Report, typed: dict[str, str] | None = None, **context: Any) -> dict[str, Any]:
    return report_form_view(
        [report], FormContext(channel=CHANNEL), chosen=report, typed=typed, today=TODAY, **context
    ).to_dict()


def element(view: dict[str, Any], param: str, report: str = "kinds") -> dict[str, Any]:
    block = block_of(view, arg_block_id(report, param))
    return dict(block["element"])


def block_of(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    found = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert found, f"no block {block_id} in {[b.get('block_id') for b in view['blocks']]}"
    return dict(found[0])


# ---------------------------------------------------------------- one input per argument, by kind


def test_each_kind_of_argument_gets_its_own_input_with_its_default_and_help() -> None:
    view = view_of(KINDS)
    assert element(view, "since")["type"] == "datepicker"
    assert element(view, "title") | {} == {
        "type": "plain_text_input",
        "action_id": "value",
        "initial_value": "Weekly",
        "max_length": 3000,
    }
    assert element(view, "count")["type"] == "number_input"
    assert element(view, "count")["is_decimal_allowed"] is False
    assert element(view, "count")["initial_value"] == "3"
    assert element(view, "ratio")["is_decimal_allowed"] is True
    assert element(view, "ratio")["initial_value"] == "0.5"
    assert element(view, "loud")["type"] == "checkboxes"
    assert [o["value"] for o in element(view, "loud")["options"]] == ["yes"]
    assert "initial_options" not in element(view, "loud")
    shape = element(view, "shape")
    assert shape["type"] == "static_select"
    assert [o["value"] for o in shape["options"]] == ["bar", "line"]
    assert shape["initial_option"]["value"] == "bar"
    count = block_of(view, arg_block_id("kinds", "count"))
    assert count["label"]["text"] == "count"
    assert count["hint"]["text"] == "count=<whole number> (default: 3)"


def test_required_arguments_are_required_inputs_and_optional_ones_optional() -> None:
    view = view_of(KINDS)
    assert block_of(view, arg_block_id("kinds", "since")).get("optional") is False
    assert "initial_date" not in element(view, "since")
    for name in ("title", "count", "ratio", "loud", "shape"):
        assert block_of(view, arg_block_id("kinds", name))["optional"] is True


def test_a_date_default_written_as_text_is_shown_as_the_date_it_means() -> None:
    since = Param.build("since", dt.date, "today-7d")
    report = Report.make(name="sql", func=lambda since: "", params=[since])
    assert element(view_of(report), "since", "sql")["initial_date"] == "2026-03-03"
    dated = Report.make(
        name="d", func=lambda since: "", params=[Param.build("since", dt.date, dt.date(2025, 1, 2))]
    )
    assert element(view_of(dated), "since", "d")["initial_date"] == "2025-01-02"


def test_a_bool_defaulting_to_true_starts_ticked_and_is_never_a_required_input() -> None:
    report = Report.make(name="b", func=lambda on: "", params=[Param.build("on", bool, True)])
    assert [o["value"] for o in element(view_of(report), "on", "b")["initial_options"]] == ["yes"]
    required = Report.make(name="r", func=lambda on: "", params=[Param.build("on", bool)])
    # An unticked box is its "no": a required checkbox could never be submitted unticked.
    assert block_of(view_of(required), arg_block_id("r", "on"))["optional"] is True


def test_what_was_typed_after_the_command_is_filled_in_and_a_wrong_value_falls_back_to_the_default() -> None:
    view = view_of(
        KINDS, {"since": "yesterday", "count": "12", "shape": "LINE", "loud": "yes", "ratio": "lots"}
    )
    assert element(view, "since")["initial_date"] == "2026-03-09"
    assert element(view, "count")["initial_value"] == "12"
    assert element(view, "shape")["initial_option"]["value"] == "line"
    assert [o["value"] for o in element(view, "loud")["initial_options"]] == ["yes"]
    assert element(view, "ratio")["initial_value"] == "0.5"


def test_a_choice_too_long_for_a_select_is_typed_instead() -> None:
    many = Literal[tuple(f"c{i}" for i in range(101))]  # type: ignore[valid-type]
    report = Report.make(name="m", func=lambda pick: "", params=[Param.build("pick", many, "c0")])
    assert element(view_of(report), "pick", "m")["type"] == "plain_text_input"
    long_text = "x" * 80
    long_choice: Any = Literal[long_text, "y"]
    report = Report.make(name="l", func=lambda pick: "", params=[Param.build("pick", long_choice, "y")])
    options = element(view_of(report), "pick", "l")["options"]
    assert len(options[0]["text"]["text"]) <= 75 and options[0]["value"] == long_text


def test_a_report_with_more_arguments_than_a_modal_holds_still_makes_a_valid_view_and_says_so() -> None:
    params = [Param.build(f"opt{i}", int, i) for i in range(140)] + [Param.build("must", str)]
    report = Report.make(name="wide", func=lambda **kw: "", params=params)
    view = view_of(report)
    assert len(view["blocks"]) <= 100
    inputs = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("arg:")]
    assert len(inputs) == MAX_ARGUMENT_INPUTS
    assert any(b["block_id"] == arg_block_id("wide", "must") for b in inputs)  # required ones first
    assert "51 more optional arguments do not fit" in json.dumps(view)


def test_with_the_schedule_form_installed_a_schedule_button_offers_to_schedule_the_report() -> None:
    [actions] = [b for b in view_of(KINDS, schedule_button=True)["blocks"] if b["type"] == "actions"]
    [button] = actions["elements"]
    assert (button["text"]["text"], button["action_id"], button["value"]) == (
        "Schedule…",
        SCHEDULE_FORM_ACTION,
        "report:kinds",
    )
    assert not [b for b in view_of(KINDS)["blocks"] if b["type"] == "actions"]
    params = [Param.build(f"opt{i}", int, i) for i in range(140)]
    wide = Report.make(name="wide", func=lambda **kw: "", params=params)
    assert len(view_of(wide, schedule_button=True)["blocks"]) <= 100


def test_a_report_without_arguments_says_so() -> None:
    report = Report.make(name="plain", func=lambda: "")
    assert "It takes no arguments" in json.dumps(view_of(report))


def test_the_report_help_is_escaped_in_the_form() -> None:
    report = Report.make(name="x", func=lambda: "", help="<!channel> & co")
    [about] = [b for b in view_of(report)["blocks"] if b["type"] == "section"]
    assert about["text"]["text"] == "*x*: &lt;!channel&gt; &amp; co"  # mrkdwn; plain_text shows it as typed


# ---------------------------------------------------------------- picker, channel, metadata


def test_the_picker_lists_at_most_100_reports_and_always_the_chosen_one() -> None:
    reports = [Report.make(name=f"r{i:03}", func=lambda: "", help="h" * 200) for i in range(130)]
    view = report_form_view(reports, FormContext(channel=CHANNEL), chosen=reports[120]).to_dict()
    options = block_of(view, REPORT_BLOCK)["element"]["options"]
    assert len(options) == 100 and "r120" in [o["value"] for o in options]
    assert all(len(o["text"]["text"]) <= 75 for o in options)
    assert block_of(view, REPORT_BLOCK)["dispatch_action"] is True
    assert "30 more reports do not fit" in json.dumps(view)


def test_from_a_channel_the_channel_is_the_default_and_from_the_shortcut_one_must_be_picked() -> None:
    here = report_form_view([KINDS], FormContext(channel=CHANNEL)).to_dict()
    assert block_of(here, CHANNEL_BLOCK)["element"]["initial_conversation"] == CHANNEL
    assert block_of(here, CHANNEL_BLOCK)["optional"] is True
    nowhere = report_form_view([KINDS], FormContext()).to_dict()
    assert "initial_conversation" not in block_of(nowhere, CHANNEL_BLOCK)["element"]
    assert block_of(nowhere, CHANNEL_BLOCK).get("optional") is False
    assert nowhere["title"]["text"] == "Run a report" and nowhere["submit"]["text"] == "Run"


def test_nothing_to_run_is_a_form_that_says_so_without_a_submit_button() -> None:
    view = report_form_view([], FormContext(channel=CHANNEL)).to_dict()
    assert "no reports you may run here" in json.dumps(view) and "submit" not in view


def test_the_metadata_names_the_channel_and_the_shown_report_and_nothing_tampered_is_read_back() -> None:
    registry = Registry()
    registry.add(KINDS)
    view = view_of(KINDS)
    assert read_metadata(view["private_metadata"], registry) == FormContext(channel=CHANNEL, report="kinds")
    for hostile in ('{"channel": "C1> <!here>", "report": "kinds"}', "[1]", "{", '{"report": ["kinds"]}'):
        context = read_metadata(hostile, registry)
        assert context.channel == "" and context.report in ("", "kinds")


def test_help_gets_run_and_schedule_buttons_under_its_text() -> None:
    blocks = help_blocks("*How*\n" + "x" * 2990 + "\nmore", "echo")
    assert [b["type"] for b in blocks] == ["section", "section", "actions"]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[:2])
    shown = [(e["text"]["text"], e["action_id"], e.get("value", "")) for e in blocks[-1]["elements"]]
    assert shown == [("Run…", RUN_FORM_ACTION, "echo"), ("Schedule…", SCHEDULE_FORM_ACTION, "report:echo")]
    assert [e.get("value", "") for e in help_blocks("usage")[-1]["elements"]] == ["", ""], (
        "no report: new forms"
    )


# ---------------------------------------------------------------- what comes back


def values(report: str = "kinds", **entered: dict[str, Any]) -> dict[str, Any]:
    """A modal's `state.values` as Slack sends it, for argument inputs."""
    return {arg_block_id(report, name): {"value": state} for name, state in entered.items()}


def test_what_is_entered_comes_back_as_the_text_the_command_takes() -> None:
    entered = values(
        since={"type": "datepicker", "selected_date": "2026-01-02"},
        title={"type": "plain_text_input", "value": "Q1 <report>"},
        count={"type": "number_input", "value": "9"},
        ratio={"type": "number_input", "value": "0.25"},
        loud={"type": "checkboxes", "selected_options": [{"value": "yes"}]},
        shape={"type": "static_select", "selected_option": {"value": "line"}},
    )
    args, errors = typed_args(KINDS, entered)
    assert errors == {}
    assert args == {
        "since": "2026-01-02",
        "title": "Q1 <report>",
        "count": "9",
        "ratio": "0.25",
        "loud": "yes",
        "shape": "line",
    }


def test_empty_optional_inputs_keep_their_defaults_and_an_unticked_box_is_no() -> None:
    entered = values(
        since={"type": "datepicker", "selected_date": "2026-01-02"},
        title={"type": "plain_text_input", "value": None},
        loud={"type": "checkboxes", "selected_options": []},
        shape={"type": "static_select", "selected_option": None},
    )
    assert typed_args(KINDS, entered) == ({"since": "2026-01-02", "loud": "no"}, {})


def test_a_bad_value_is_an_error_under_its_own_field_in_plain_words() -> None:
    entered = values(
        since={"type": "datepicker", "selected_date": "2026-02-31"},
        count={"type": "number_input", "value": "1.5"},
        shape={"type": "static_select", "selected_option": {"value": "pie"}},
    )
    args, errors = typed_args(KINDS, entered)
    assert set(errors) == {arg_block_id("kinds", n) for n in ("since", "count", "shape")}
    assert errors[arg_block_id("kinds", "count")].startswith("count must be a whole number")
    assert "`" not in "".join(errors.values())
    assert "since" not in args


def test_plain_text_turns_a_refusal_into_what_a_modal_shows() -> None:
    assert plain_text("`a` &lt;b&gt; <@U1> <#C2|general> <!subteam^S1>") == "a <b> @U1 #general a user group"
    assert len(plain_text("x" * 5000)) == 1000


# ---------------------------------------------------------------- submitting and opening


class RecordingPublisher(Publisher):
    """Takes every job at once, as a broker that is up does; remembers them."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def publish(self, job: Job, time_limit: float, *, bulk: bool = False) -> None:
        self.jobs.append(job)


class RecordingWebApi(WebApi):
    """The Web API calls the form makes, recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__(WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/"))
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("views.open", {"trigger_id": trigger_id, "view": view}))
        return view

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> dict[str, Any]:
        self.calls.append(("views.update", {"view_id": view_id, "view": view, "hash": view_hash}))
        return view

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.calls.append(("chat.postEphemeral", {"channel": channel, "user": user, "text": text}))


class NoGroups(GroupDirectory):
    """User groups with nobody in them, known without asking Slack."""

    def __init__(self) -> None:
        super().__init__(lambda: RecordingWebApi())

    def members(self, group: str) -> frozenset[str]:
        return frozenset()


class InlineAfterAck(AfterAck):
    """After-ack work done at once, so a test sees it."""

    def run(self, work: Callable[[], object], what: str) -> None:
        work()


@pytest.fixture
def form() -> ReportForm:
    settings = Settings(slack_bot_token=BOT_TOKEN, report_modules=tuple(TEST_REPORTS.split(",")))

    registry = Registry()  # a copy: tests add reports of their own
    for report in load_reports(settings.report_modules).all():
        registry.add(report)
    handler = CommandHandler(
        settings,
        registry,
        RecordingPublisher(),
        JobRecords(MemoryStore()),
        access=Access(NoGroups()),
    )
    return ReportForm(handler, RecordingWebApi(), InlineAfterAck(threads=1))


def published(form: ReportForm) -> list[Job]:
    publisher = form.handler.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher.jobs


def web_calls(form: ReportForm, method: str) -> list[dict[str, Any]]:
    web = form.web
    assert isinstance(web, RecordingWebApi)
    return [args for name, args in web.calls if name == method]


def submission(
    report: str, state: dict[str, Any], *, channel: str = "", shown: str | None = None, user: str = ALICE
) -> dict[str, Any]:
    """A view_submission body as Slack sends it for the report form opened in CHANNEL."""
    picked = {"type": "conversations_select", "selected_conversation": channel or None}
    chosen = {"type": "static_select", "selected_option": {"value": report}}
    return {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": user},
        "trigger_id": "1.2.submit",
        "view": {
            "id": "V0FORM",
            "callback_id": "report_form",
            "private_metadata": json.dumps(
                {"channel": CHANNEL, "report": report if shown is None else shown}
            ),
            "state": {
                "values": {
                    REPORT_BLOCK: {REPORT_ACTION: chosen},
                    CHANNEL_BLOCK: {CHANNEL_ACTION: picked},
                    **state,
                }
            },
        },
    }


def test_a_good_submission_closes_the_form_queues_the_job_and_says_so_privately(form: ReportForm) -> None:
    state = values(
        since={"type": "datepicker", "selected_date": "2026-01-02"},
        count={"type": "number_input", "value": "4"},
    )
    ack, after = form.on_submit(submission("kinds", state, channel="C0OTHER"))
    assert ack == {}  # a plain ack: the modal closes
    [job] = published(form)
    assert (job.report, job.args, job.channel, job.user) == (
        "kinds",
        {"since": "2026-01-02", "count": "4"},
        "C0OTHER",
        ALICE,
    )
    assert after is not None
    after()
    [told] = web_calls(form, "chat.postEphemeral")
    assert told["channel"] == "C0OTHER" and told["user"] == ALICE
    assert f"as job `{job.id}`" in told["text"] and "*kinds*" in told["text"]


def test_without_a_channel_picked_the_job_runs_where_the_form_was_opened(form: ReportForm) -> None:
    ack, _ = form.on_submit(
        submission("echo", values("echo", text={"type": "plain_text_input", "value": "hi"}))
    )
    assert ack == {}
    assert [(j.channel, j.args) for j in published(form)] == [(CHANNEL, {"text": "hi"})]


def test_a_bad_value_is_answered_under_its_field_and_nothing_is_queued(form: ReportForm) -> None:
    state = values("echo", times={"type": "number_input", "value": "many"})
    ack, after = form.on_submit(submission("echo", state))
    assert ack["response_action"] == "errors" and after is None
    assert list(ack["errors"]) == [arg_block_id("echo", "times")]
    assert "times must be a whole number" in ack["errors"][arg_block_id("echo", "times")]
    assert published(form) == []


def test_someone_without_access_is_refused_under_the_report_and_nothing_is_queued(form: ReportForm) -> None:
    ack, _ = form.on_submit(submission("vault", {}))
    assert ack["response_action"] == "errors"
    assert "You cannot run vault here" in ack["errors"][REPORT_BLOCK]
    assert published(form) == []
    ack, _ = form.on_submit(submission("vault", {}, user=BOSS))
    assert ack == {} and len(published(form)) == 1


def test_a_report_limited_to_other_channels_is_refused_under_the_channel(form: ReportForm) -> None:
    limited = Report.make(name="fin", func=lambda: "", channels=("C0FIN",))
    form.registry.add(limited)
    ack, _ = form.on_submit(submission("fin", {}, channel="C0GENERAL"))
    assert list(ack["errors"]) == [CHANNEL_BLOCK] and "C0FIN" in ack["errors"][CHANNEL_BLOCK]
    assert form.on_submit(submission("fin", {}, channel="C0FIN"))[0] == {}


def test_from_the_shortcut_a_channel_must_be_picked(form: ReportForm) -> None:
    body = submission("ping", {})
    body["view"]["private_metadata"] = json.dumps({"channel": "", "report": "ping"})
    ack, _ = form.on_submit(body)
    assert list(ack["errors"]) == [CHANNEL_BLOCK]
    assert published(form) == []


def test_a_report_picked_whose_arguments_never_showed_is_shown_instead_of_run(form: ReportForm) -> None:
    ack, _ = form.on_submit(submission("kinds", {}, shown="echo"))
    assert ack["response_action"] == "update"
    assert any(b.get("block_id") == arg_block_id("kinds", "since") for b in ack["view"]["blocks"])
    assert published(form) == []


def test_a_run_button_in_the_home_tab_opens_a_form_whose_channel_must_be_picked(form: ReportForm) -> None:
    click = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "trigger_id": "1.2.home",
        "container": {"type": "view"},
    }
    form.open_after_ack(click, "", "", "Run… button")
    [opened] = web_calls(form, "views.open")
    assert opened["trigger_id"] == "1.2.home"
    channel = block_of(opened["view"], CHANNEL_BLOCK)
    assert channel.get("optional") is False and "initial_conversation" not in channel["element"]
    form.open_after_ack({"user": {"id": "U1> <!here>"}, "trigger_id": "1.2.x"}, "", "", "Run… button")
    assert len(web_calls(form, "views.open")) == 1  # no form for an id Slack would never send


def test_hostile_ids_in_a_submission_queue_nothing(form: ReportForm) -> None:
    forged_user = submission("ping", {}, user="U1> <!channel")
    ack, _ = form.on_submit(forged_user)
    assert (
        ack["response_action"] == "errors"
        and "did not say clearly who sent it" in ack["errors"][REPORT_BLOCK]
    )
    forged_channel = submission("ping", {}, channel="C1> <!here>")
    forged_channel["view"]["private_metadata"] = json.dumps({"channel": "C1> <!here>", "report": "ping"})
    ack, _ = form.on_submit(forged_channel)
    assert list(ack["errors"]) == [CHANNEL_BLOCK]
    assert published(form) == []


def test_picking_a_report_updates_the_open_form_with_its_arguments_and_keeps_the_channel(
    form: ReportForm,
) -> None:
    body = submission("kinds", {}, channel="C0OTHER", shown="")
    body["view"]["hash"] = "h1"
    body["actions"] = [{"action_id": REPORT_ACTION, "selected_option": {"value": "kinds"}}]
    form.on_pick(body)
    [update] = web_calls(form, "views.update")
    assert update["view_id"] == "V0FORM" and update["hash"] == "h1"
    blocks = update["view"]["blocks"]
    assert any(b.get("block_id") == arg_block_id("kinds", "since") for b in blocks)
    assert block_of(update["view"], CHANNEL_BLOCK)["element"]["initial_conversation"] == "C0OTHER"
    assert json.loads(update["view"]["private_metadata"]) == {"channel": CHANNEL, "report": "kinds"}


def command(text: str, user: str = ALICE) -> dict[str, Any]:
    return {
        "command": "/run-report",
        "text": text,
        "channel_id": CHANNEL,
        "user_id": user,
        "team_id": "T0TEST",
        "trigger_id": "1.2.cmd",
        "response_url": "",
    }


def handled(form: ReportForm, text: str, user: str = ALICE) -> Reply:
    from bot import grammar

    handler = form.handler
    handler.register(grammar.RunReport, form.on_run_command)
    return handler.handle(command(text, user))


def test_a_command_missing_a_required_argument_opens_the_form_with_what_was_typed(form: ReportForm) -> None:
    reply = handled(form, "kinds count=8")
    assert reply.text.startswith(":memo: Opening a form for `kinds`: fill in `since` there.")
    assert published(form) == []
    reply.run_after(logging.getLogger(__name__))
    [opened] = web_calls(form, "views.open")
    assert opened["trigger_id"] == "1.2.cmd"
    view = opened["view"]
    assert block_of(view, REPORT_BLOCK)["element"]["initial_option"]["value"] == "kinds"
    assert element(view, "count")["initial_value"] == "8"


def test_a_command_with_every_argument_is_queued_as_before_and_a_wrong_one_refused_as_before(
    form: ReportForm,
) -> None:
    assert "Queued *kinds*" in handled(form, "kinds since=today").text
    refused = handled(form, "kinds since=soon")
    assert "`since` must be a date" in refused.text and refused.outcome == "refused"
    assert "has no argument `sine`" in handled(form, "kinds sine=today").text
    assert web_calls(form, "views.open") == []


def test_a_command_for_a_report_someone_may_not_run_is_refused_not_given_a_form(form: ReportForm) -> None:
    restricted = Report.make(
        name="secret", func=lambda day: "", params=[Param.build("day", dt.date)], users=(BOSS,)
    )
    form.registry.add(restricted)
    reply = handled(form, "secret")
    assert "You cannot run `secret` here" in reply.text
    assert web_calls(form, "views.open") == []


def test_the_picker_offers_only_the_reports_someone_may_run(form: ReportForm) -> None:
    access = form.handler.access
    assert "vault" not in [r.name for r in reports_for(form.registry, access, ALICE, CHANNEL)]
    assert "vault" in [r.name for r in reports_for(form.registry, access, BOSS, CHANNEL)]
    limited = Report.make(name="fin", func=lambda: "", channels=("C0FIN",))
    form.registry.add(limited)
    assert "fin" not in [r.name for r in reports_for(form.registry, access, ALICE, CHANNEL)]
    assert "fin" in [r.name for r in reports_for(form.registry, access, ALICE, "")]  # picked later


def test_the_same_form_submitted_twice_queues_one_job(form: ReportForm) -> None:
    # A double click on Run, or a submission sent again while the first was queuing: each
    # view_submission has a trigger_id of its own, but it is the same form.
    first = submission("echo", values("echo", text={"type": "plain_text_input", "value": "hi"}))
    again = {**first, "trigger_id": "1.3.submit"}

    assert form.on_submit(first)[0] == {}
    ack, after = form.on_submit(again)

    assert ack == {}
    [job] = published(form)
    assert after is not None
    after()
    assert all(f"`{job.id}`" in told["text"] for told in web_calls(form, "chat.postEphemeral"))


class ExpiredTriggers(RecordingWebApi):
    """Slack refusing every views.open: the trigger_id expired (the bot was slow) or was used."""

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        raise SlackApiError("expired", SlackResponse(
            client=None, http_verb="POST", api_url="views.open", req_args={},
            data={"ok": False, "error": "expired_trigger_id"}, headers={}, status_code=200,
        ))  # fmt: skip

    def respond_ephemeral(self, response_url: str, text: str) -> bool:
        self.calls.append(("response_url", {"url": response_url, "text": text}))
        return True


def test_a_form_slack_would_not_open_is_said_to_the_clicker_not_left_silent(form: ReportForm) -> None:
    form.web = ExpiredTriggers()
    click = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "trigger_id": "1.2.late",
        "channel": {"id": CHANNEL},
        "response_url": "https://hooks.slack.com/actions/T0/1/late",
    }
    form.open_after_ack(click, "echo", CHANNEL, "Run… button")
    [told] = web_calls(form, "response_url")
    assert told["url"] == click["response_url"]
    assert "did not open" in told["text"] and "again" in told["text"]
