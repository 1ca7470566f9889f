"""The schedule form (`bot.schedule_form`) as a person sees it: the fields it draws, the preview of
the next three runs (with the daylight-saving changes that move them), and what a submission
saves or refuses, field by field.

The real schedule commands on the in-memory store and a recording stand-in for the Web API's
views calls; a submission's values are built from the drawn view itself, as Slack sends them for
fields left as they were. Nothing here needs a service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from slack_sdk.models.views import View

from bot.app import install_schedule_commands
from bot.commands import CommandHandler
from bot.publish import Publisher
from bot.schedule_commands import ScheduleCommands
from bot.schedule_form import SCHEDULE_FORM_ACTION, ScheduleForm, button_target, open_schedule_form
from bot.schedule_form_view import (
    FIELD_PREFIX,
    FormContext,
    FormState,
    preview_text,
    read_state,
    rule_of,
    state_of,
)
from tasks.jobs.records import JobRecords
from tasks.reports import Registry, Report
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.settings import Settings
from tasks.store import MemoryStore
from tests.form_values import option, values_of

pytestmark = pytest.mark.unit

ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
HERE = "C0HERE"
#: Friday 2027-03-26 12:00 UTC: the last Sunday of March (Europe's clock change) is two days on.
BEFORE_EU_SPRING = datetime(2027, 3, 26, 12, tzinfo=UTC)


def sales(region: Literal["emea", "apac"] = "emea", days: int = 7) -> str:
    return f"{region} {days}"


def echo(text: str = "hello") -> str:
    return text


def orders(since: date, flag: bool = False) -> str:
    return f"{since} {flag}"


class RecordedViews:
    """The views.* calls the form makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("open", view))
        return view

    def push_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("push", view))
        return view

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> dict[str, Any]:
        self.calls.append(("update", (view_id, view_hash, view)))
        return view


def make_form(
    now: datetime = BEFORE_EU_SPRING, reports_file: str = "/nonexistent.toml", **settings: Any
) -> tuple[ScheduleForm, CommandHandler, RecordedViews]:
    registry = Registry()
    registry.add(Report.from_function(sales, name="sales", help="Sales by region"))
    registry.add(Report.from_function(echo, name="echo", help="Say the text back"))
    registry.add(Report.from_function(orders, name="orders", help="Orders since a day"))
    config = Settings(
        slack_bot_token="xoxb-x",
        slack_api_url="http://127.0.0.1:9/api/",  # users.info fails at once: the default zone
        default_timezone="Europe/Paris",
        reports_file=reports_file,
        **settings,
    )
    handler = CommandHandler(config, registry, Publisher(config), JobRecords(MemoryStore()))
    install_schedule_commands(handler, config)
    views = RecordedViews()
    form = ScheduleForm(ScheduleCommands(config, handler), views, clock=now.timestamp)  # type: ignore[arg-type]
    return form, handler, views


def blocks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if "block_id" in block}


def preview_of(view: dict[str, Any]) -> str:
    return str(blocks_of(view)["preview"]["text"]["text"])


def submission(view: dict[str, Any], user: str = ALICE, /, **changes: Any) -> dict[str, Any]:
    """A view_submission of `view` by `user`, its fields as drawn but for `changes` (block id → state)."""
    return {
        "type": "view_submission",
        "user": {"id": user},
        "trigger_id": f"t-{len(changes)}-{id(view)}",
        "view": {
            "id": "V0FORM",
            "hash": "h1",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""),
            "state": {"values": values_of(view, **changes)},
        },
    }


def stored(handler: CommandHandler) -> list[Schedule]:
    return ScheduleStore(handler.records.store).all()


def say(handler: CommandHandler, text: str, channel: str = HERE, user: str = ALICE) -> str:
    return handler.handle({"text": text, "channel_id": channel, "user_id": user, "team_id": "T0TEST"}).text


# -- the form as drawn ----------------------------------------------------------------------


def test_a_new_form_starts_from_the_report_its_arguments_defaults_the_zone_and_this_channel() -> None:
    form, _, _ = make_form()

    view = form.view_for(user=ALICE, channel=HERE, report="sales")

    View(**view).validate_json()  # within Slack's limits, as slack_sdk checks them
    blocks = blocks_of(view)
    assert view["title"]["text"] == "New schedule" and view["submit"]["text"] == "Save schedule"
    assert blocks["report"]["element"]["initial_option"]["value"] == "sales"
    assert [o["value"] for o in blocks["arg:sales:region"]["element"]["options"]] == ["emea", "apac"]
    assert blocks["arg:sales:region"]["element"]["initial_option"]["value"] == "emea"
    assert blocks["arg:sales:days"]["element"]["initial_value"] == "7"
    assert blocks["kind"]["element"]["initial_option"]["value"] == "weekly"
    assert blocks["time"]["element"]["initial_time"] == "09:00"
    assert [o["text"]["text"] for o in blocks["weekdays"]["element"]["initial_options"]] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
    ]
    assert blocks["tz"]["element"]["initial_option"]["value"] == "Europe/Paris"  # Slack said none
    assert blocks["channel"]["element"]["initial_conversation"] == HERE
    preview = preview_of(view)
    assert "*Next runs* (Europe/Paris):" in preview
    assert preview.count("09:00 CET") + preview.count("09:00 CEST") == 3


def test_each_kind_of_rule_draws_its_own_fields() -> None:
    form, _, _ = make_form()
    context = FormContext("", HERE)

    every = blocks_of(
        form.render(FormState(report="echo", kind="every", every_n="6", every_unit="h"), context)
    )
    cron = blocks_of(form.render(FormState(report="echo", kind="cron", cron="*/30 * * * *"), context))

    assert every["every_n"]["element"]["type"] == "number_input"
    assert every["every_n"]["element"]["initial_value"] == "6"
    assert [o["value"] for o in every["every_unit"]["element"]["options"]] == ["m", "h", "d"]
    assert "time" not in every and "cron" not in every
    assert cron["cron"]["element"]["initial_value"] == "*/30 * * * *"
    assert "time" not in cron and "every_n" not in cron
    for blocks in (every, cron):  # every field redraws the preview as it changes
        assert all(b["dispatch_action"] for k, b in blocks.items() if k in ("kind", "tz", "every_n", "cron"))


def test_seconds_are_offered_only_where_the_shortest_interval_allowed_is_under_a_minute() -> None:
    state = FormState(report="echo", kind="every")
    strict, _, _ = make_form()
    loose, _, _ = make_form(schedule_min_interval=2)

    def units(form: ScheduleForm) -> list[str]:
        element = blocks_of(form.render(state, FormContext()))["every_unit"]["element"]
        return [o["value"] for o in element["options"]]

    assert units(strict) == ["m", "h", "d"] and units(loose) == ["m", "h", "d", "s"]


def test_the_list_of_schedules_offers_the_form() -> None:
    _, handler, _ = make_form()

    reply = handler.handle({"text": "schedule list", "channel_id": HERE, "user_id": ALICE, "team_id": "T0"})

    assert reply.blocks is not None
    button = reply.blocks[-1]["elements"][0]
    assert button["action_id"] == SCHEDULE_FORM_ACTION and button.get("value", "") == ""  # new
    assert button["text"]["text"] == "Schedule…"


def test_the_form_opens_for_whoever_holds_a_web_api_client_or_stacks_on_the_modal_clicked_in() -> None:
    form, handler, _ = make_form()
    schedule_id = added(handler).id
    views = RecordedViews()

    open_schedule_form(views, "t1", user=ALICE, channel=HERE, schedule_id=schedule_id, commands=form.commands)  # type: ignore[arg-type]
    open_schedule_form(form, "t2", user=ALICE, channel="", report="sales", push=True)

    ((call, opened),) = views.calls
    assert call == "open" and opened["title"]["text"] == "Edit schedule"
    assert [call for call, _ in form.web_api.calls] == ["push"]  # type: ignore[attr-defined]


def test_a_buttons_value_says_new_edit_or_which_report() -> None:
    assert button_target("") == (None, None)
    assert button_target("report:sales") == (None, "sales")
    assert button_target("s-1a2b3c") == ("s-1a2b3c", None)
    assert button_target("<script>") == (None, None)


# -- the preview ----------------------------------------------------------------------------


def test_a_daily_0230_in_paris_is_flagged_on_the_night_the_clocks_go_forward() -> None:
    form, _, _ = make_form(now=datetime(2027, 3, 27, 12, tzinfo=UTC))
    state = FormState(
        report="echo",
        kind="weekly",
        time="02:30",
        weekdays=("0", "1", "2", "3", "4", "5", "6"),
        tz="Europe/Paris",
    )

    lines = preview_of(form.render(state, FormContext())).splitlines()

    assert lines[1] == "• Sun 28 Mar 2027 03:30 CEST"
    assert (
        "02:30 does not exist on Sun 28 Mar (the clocks go forward), so this run happens at 03:30" in lines[2]
    )
    assert lines[3:] == ["• Mon 29 Mar 2027 02:30 CEST", "• Tue 30 Mar 2027 02:30 CEST"]


def test_a_daily_0230_in_paris_is_flagged_on_the_night_the_clocks_go_back() -> None:
    state = FormState(report="echo", kind="cron", cron="30 2 * * *", tz="Europe/Paris")

    preview = preview_text(state, 60, datetime(2026, 10, 24, 12, tzinfo=UTC))

    assert "• Sun 25 Oct 2026 02:30 CEST\n    :warning: _02:30 happens twice on Sun 25 Oct" in preview
    assert preview.count(":warning:") == 1


def test_a_0900_weekday_rule_in_new_york_stays_0900_on_both_sides_of_the_change() -> None:
    # The US clocks go forward on Sunday 2027-03-14.
    state = FormState(
        report="echo", kind="weekly", time="09:00", weekdays=("1", "2", "3", "4", "5"), tz="America/New_York"
    )

    preview = preview_text(state, 60, datetime(2027, 3, 12, 12, tzinfo=UTC))

    assert preview.splitlines()[1:] == [
        "• Fri 12 Mar 2027 09:00 EST",
        "• Mon 15 Mar 2027 09:00 EDT",
        "• Tue 16 Mar 2027 09:00 EDT",
    ]


def test_an_interval_keeps_its_rhythm_across_a_change_and_says_the_clock_time_moves() -> None:
    state = FormState(report="echo", kind="every", every_n="6", every_unit="h", tz="Europe/Paris")

    preview = preview_text(state, 60, datetime(2027, 3, 27, 20, tzinfo=UTC))

    assert (
        "• Sun 28 Mar 2027 04:00 CEST\n    :warning: _The clocks go forward before this run (CET to CEST)"
        in preview
    )
    assert "moves by 1 hour" in preview


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (FormState(kind="cron", cron="0 9 * *"), "has 4 fields; it needs 5"),
        (FormState(kind="cron", cron="0 25 * * *"), "is not valid"),
        (FormState(kind="every", every_n="1", every_unit="m"), "is too often"),
        (FormState(kind="every", every_n="zero"), "A whole number above 0"),
        (FormState(kind="weekly", weekdays=()), "Pick at least one day"),
        (FormState(kind="weekly", tz="Mars/Olympus"), "is not a time zone I know"),
    ],
)
def test_a_rule_that_cannot_be_saved_is_explained_in_the_preview(state: FormState, words: str) -> None:
    preview = preview_text(state, 300, BEFORE_EU_SPRING)

    assert preview.startswith(":warning:") and words in preview


# -- reading the fields back ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "kind", "shown"),
    [
        (Rule(every_seconds=5400, tz="UTC"), "every", ("90", "m")),
        (Rule(every_seconds=86400, tz="UTC"), "every", ("1", "d")),
        (Rule(cron="0 9 * * 1-5", tz="UTC"), "weekly", ("09:00", ("1", "2", "3", "4", "5"))),
        (Rule(cron="30 7 * * 0,6", tz="UTC"), "weekly", ("07:30", ("6", "0"))),
        (Rule(cron="*/15 * * * *", tz="UTC"), "cron", ("*/15 * * * *",)),
        (Rule(cron="0 9 * * mon", tz="UTC"), "cron", ("0 9 * * mon",)),
    ],
)
def test_editing_starts_from_the_schedules_rule_in_the_kind_that_reads_best(
    rule: Rule, kind: str, shown: tuple[Any, ...]
) -> None:
    state = state_of(Schedule(id="s-000001", report="echo", args={}, rule=rule, channel=HERE))

    assert state.kind == kind
    if kind == "every":
        assert (state.every_n, state.every_unit) == shown
    elif kind == "weekly":
        assert (state.time, state.weekdays) == shown
    else:
        assert (state.cron,) == shown
    assert rule_of(state) == rule  # saved unchanged, the form draws it back as it is


def test_odd_or_hostile_field_values_read_as_empty_not_as_errors() -> None:
    state = read_state(
        {"report": "x", "channel": {FIELD_PREFIX + "channel": {"selected_conversation": "not-a-channel"}}}
    )
    context = FormContext.load('{"schedule": "../../etc", "channel": "<!here>"}')

    assert state.report == "" and state.channel == ""
    assert context == FormContext() and FormContext.load("[1]") == FormContext()


# -- submitting -----------------------------------------------------------------------------


def test_a_submitted_form_adds_the_schedule_that_schedule_list_then_shows() -> None:
    form, handler, _ = make_form()
    view = form.view_for(user=ALICE, channel=HERE, report="sales")

    done = form.submit(submission(view, **{"arg:sales:region": option("apac")}))

    assert done.errors is None and done.view is not None
    assert len(done.after) == 1  # after the ack: the Homes that show the new schedule
    saved_text = done.view["blocks"][0]["text"]["text"]
    (schedule,) = stored(handler)
    assert f"`{schedule.id}`" in saved_text and "*sales* `region=apac days=7`" in saved_text
    assert f"in <#{HERE}> as" in saved_text
    assert (schedule.report, schedule.args, schedule.channel, schedule.user) == (
        "sales",
        {"region": "apac", "days": "7"},
        HERE,
        ALICE,
    )
    assert schedule.rule == Rule(cron="0 9 * * 1-5", tz="Europe/Paris")
    assert schedule.id in say(handler, "schedule list")


def test_each_wrong_field_is_named_under_that_field() -> None:
    form, handler, _ = make_form()
    view = form.view_for(user=ALICE, channel=HERE, report="sales")

    bad_days = form.submit(submission(view, **{"arg:sales:days": {"value": "a week"}}))
    bad_cron = form.submit(submission(view, kind=option("cron"), cron={"value": "0 9 * * 1-5 extra"}))
    no_day = form.submit(submission(view, weekdays={"selected_options": []}))
    no_channel = form.submit(submission(view, channel={"selected_conversation": None}))
    no_report = form.submit(submission(view, report={"selected_option": None}))
    everything_wrong = form.submit(
        submission(
            view,
            **{"arg:sales:days": {"value": "-"}},
            kind=option("cron"),
            cron={"value": "0 9"},
            channel={"selected_conversation": None},
        )
    )

    assert bad_days.errors == {"arg:sales:days": "days must be a whole number, like days=7; you gave a week."}
    assert set(everything_wrong.errors or {}) == {"arg:sales:days", "cron", "channel"}
    assert bad_cron.errors is not None and list(bad_cron.errors) == ["cron"]
    assert "has 6 fields; it needs 5" in bad_cron.errors["cron"] and "`" not in bad_cron.errors["cron"]
    assert no_day.errors == {"weekdays": "Pick at least one day."}
    assert no_channel.errors == {"channel": "Pick the channel it posts in."}
    assert no_report.errors == {"report": "Pick a report."}
    assert stored(handler) == []


def test_a_date_argument_is_text_so_a_relative_day_counts_from_each_run() -> None:
    form, handler, _ = make_form()
    view = form.view_for(user=ALICE, channel=HERE, report="orders")
    since = blocks_of(view)["arg:orders:since"]

    missing = form.submit(submission(view))
    done = form.submit(
        submission(
            view,
            **{
                "arg:orders:since": {"value": "today-7d"},
                "arg:orders:flag": {"selected_options": [{"value": "yes"}]},
            },
        )
    )

    assert since["element"]["type"] == "plain_text_input" and "today-7d" in since["hint"]["text"]
    assert blocks_of(view)["arg:orders:flag"]["element"]["type"] == "checkboxes"  # the report form's inputs
    assert missing.errors == {"arg:orders:since": "since is required."}
    assert done.errors is None
    assert stored(handler)[0].args == {"since": "today-7d", "flag": "yes"}


def test_a_rhythm_shorter_than_allowed_is_refused_under_the_interval() -> None:
    form, handler, _ = make_form(schedule_min_interval=3600)
    view = form.view_for(user=ALICE, channel=HERE, report="echo")

    refused = form.submit(
        submission(view, kind=option("every"), every_n={"value": "5"}, every_unit=option("m"))
    )

    assert refused.errors is not None and "is too often" in refused.errors["every_n"]
    assert stored(handler) == []


def test_a_non_admin_is_refused_when_admins_are_set_both_on_opening_and_on_submitting() -> None:
    form, handler, _ = make_form(admin_users=(ADMIN,))
    admin_view = form.view_for(user=ADMIN, channel=HERE, report="echo")

    opened = form.view_for(user=ALICE, channel=HERE, report="echo")
    submitted = form.submit(submission(admin_view, ALICE))

    assert "submit" not in opened and "Only <@U0ADMIN" in opened["blocks"][0]["text"]["text"]
    assert submitted.errors == {
        "report": "Only @U0ADMIN may add schedules here; ask one of them. Anyone may see them with "
        "/run-report schedule list."
    }
    assert stored(handler) == []
    assert form.submit(submission(admin_view, ADMIN)).errors is None


def test_a_person_at_their_limit_is_told_under_the_channel() -> None:
    form, handler, _ = make_form(schedules_per_user=1)
    view = form.view_for(user=ALICE, channel=HERE, report="echo")

    first = form.submit(submission(view))
    again = submission(view, **{"arg:echo:text": {"value": "again"}})
    second = form.submit({**again, "view": {**again["view"], "id": "V0SECOND"}})  # another form

    assert first.errors is None
    assert second.errors is not None and "You have 1 schedules already" in second.errors["channel"]
    assert len(stored(handler)) == 1


# -- editing --------------------------------------------------------------------------------


def added(handler: CommandHandler, text: str = "schedule add echo text=hi every 1h tz=UTC") -> Schedule:
    say(handler, text)
    return stored(handler)[-1]


def test_editing_prefills_the_form_and_saving_changes_the_rule_under_the_same_id() -> None:
    form, handler, _ = make_form()
    before = added(handler)

    view = form.view_for(user=BOB, channel=HERE, schedule_id=before.id)
    done = form.submit(
        submission(
            view,
            BOB,
            kind=option("weekly"),
            time={"selected_time": "07:15"},
            weekdays={"selected_options": [{"value": "1"}, {"value": "3"}]},
        )
    )

    blocks = blocks_of(view)
    assert view["title"]["text"] == "Edit schedule"
    assert blocks["every_n"]["element"]["initial_value"] == "1"
    assert blocks["arg:echo:text"]["element"]["initial_value"] == "hi"
    assert done.errors is None and done.view is not None
    (after,) = stored(handler)
    assert after.id == before.id and after.user == ALICE and after.args == {"text": "hi"}
    assert after.rule == Rule(cron="15 7 * * 1,3", tz="UTC")
    assert after.since == BEFORE_EU_SPRING.timestamp() != before.since  # re-planned from the edit on
    assert "now runs" in done.view["blocks"][0]["text"]["text"]
    assert 'cron "15 7 * * 1,3"' in say(handler, "schedule list")


def test_another_channels_schedule_cannot_be_edited_from_here_nor_by_a_stranger_from_home() -> None:
    form, handler, _ = make_form()
    theirs = added(handler)

    from_elsewhere = form.view_for(user=BOB, channel="C0ELSE", schedule_id=theirs.id)
    from_home = form.view_for(user=BOB, channel="", schedule_id=theirs.id)
    own_from_home = form.view_for(user=ALICE, channel="", schedule_id=theirs.id)

    assert "submit" not in from_elsewhere and "There is no schedule" in str(from_elsewhere)
    assert "submit" not in from_home and "There is no schedule" in str(from_home)
    assert own_from_home["title"]["text"] == "Edit schedule"


def test_a_schedule_removed_while_its_form_was_open_is_not_brought_back() -> None:
    form, handler, _ = make_form()
    schedule = added(handler)
    view = form.view_for(user=ALICE, channel=HERE, schedule_id=schedule.id)
    say(handler, f"schedule remove {schedule.id}")

    refused = form.submit(submission(view))

    assert refused.errors is not None and "There is no schedule" in refused.errors["report"]
    assert stored(handler) == []


def test_editing_a_paused_schedule_keeps_it_paused_and_says_so() -> None:
    form, handler, _ = make_form()
    schedule = added(handler)
    say(handler, f"schedule pause {schedule.id}")

    view = form.view_for(user=ALICE, channel=HERE, schedule_id=schedule.id)
    done = form.submit(submission(view, every_n={"value": "2"}))

    (after,) = stored(handler)
    assert after.paused and after.rule.every_seconds == 7200
    assert done.view is not None and "It stays paused" in done.view["blocks"][0]["text"]["text"]


def test_a_static_schedule_says_it_is_changed_in_its_file(tmp_path: Path) -> None:
    reports = tmp_path / "reports.toml"
    reports.write_text('[schedules.daily-echo]\nreport = "echo"\ncron = "0 9 * * *"\nchannel = "C0HERE"\n')
    form, _, _ = make_form(reports_file=str(reports))

    view = form.view_for(user=ALICE, channel=HERE, schedule_id="daily-echo")

    assert "submit" not in view
    assert "so it cannot be edited from Slack" in view["blocks"][0]["text"]["text"]


# -- redrawing ------------------------------------------------------------------------------


def test_a_changed_field_redraws_the_form_with_its_hash_and_a_new_preview() -> None:
    form, _, views = make_form()
    view = form.view_for(user=ALICE, channel=HERE, report="echo")
    body = submission(view, kind=option("cron"), cron={"value": "0 9 1 * *"})
    body["type"] = "block_actions"

    form.redraw(body)

    ((call, (view_id, view_hash, redrawn)),) = views.calls
    assert (call, view_id, view_hash) == ("update", "V0FORM", "h1")
    assert blocks_of(redrawn)["cron"]["element"]["initial_value"] == "0 9 1 * *"
    assert "• Thu 01 Apr 2027 09:00 CEST" in preview_of(redrawn)


def test_the_same_form_submitted_twice_adds_one_schedule() -> None:
    # A double click on Submit, or a submission sent again while the first was being saved:
    # Slack gives each view_submission a trigger_id of its own, but it is the same view.
    form, handler, _ = make_form()
    view = form.view_for(user=ALICE, channel=HERE, report="sales")
    first = submission(view)
    again = {**first, "trigger_id": "t-another-trigger"}

    done = form.submit(first)
    repeated = form.submit(again)

    assert done.errors is None and repeated.errors is None
    (schedule,) = stored(handler)
    assert repeated.view is not None and f"`{schedule.id}`" in repeated.view["blocks"][0]["text"]["text"]
