"""`schedule add` and `schedule list` (`bot.schedule_views`): times in each schedule's zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.paging import Page
from bot.schedule_views import ARG_SHOWN, added_text, list_text, schedule_line, shown_at, when
from tasks.jobs.records import Job, JobRecord, JobState
from tasks.schedules.schedule import Rule, RunState, Schedule

pytestmark = pytest.mark.unit

COMMAND = "/run-report"
NINE_NY = datetime(2026, 3, 9, 13, tzinfo=UTC)  # Mon 09:00 in New York (EDT)


def weekdays(**changes: Any) -> Schedule:
    schedule = Schedule(
        id="s-3f9c",
        report="sales",
        args={"region": "emea"},
        rule=Rule(cron="0 9 * * 1-5", tz="America/New_York"),
        channel="C0GEN",
        user="U0ALICE",
    )
    return replace(schedule, **changes)


def test_a_time_is_shown_in_the_schedules_zone_with_seconds_only_when_they_matter() -> None:
    assert when(NINE_NY, weekdays()) == "Mon 2026-03-09 09:00 EDT"
    assert when(NINE_NY.timestamp() + 5, weekdays()) == "Mon 2026-03-09 09:00:05 EDT"
    assert when(NINE_NY) == "Mon 2026-03-09 13:00 UTC"
    assert when(None) == "never"


def test_a_run_time_in_a_message_is_shown_in_each_readers_zone_with_the_schedules_as_fallback() -> None:
    assert (
        shown_at(NINE_NY, weekdays())
        == "<!date^1773061200^{date_short_pretty} {time}|Mon 2026-03-09 09:00 EDT>"
    )
    assert shown_at(NINE_NY.timestamp() + 5, weekdays()) == (
        "<!date^1773061205^{date_short_pretty} {time_secs}|Mon 2026-03-09 09:00:05 EDT>"
    )
    assert shown_at(None) == "never"


def test_adding_a_schedule_answers_its_id_rule_next_three_runs_and_how_to_undo() -> None:
    runs = [datetime(2026, 3, day, 13, tzinfo=UTC) for day in (9, 10, 11)]
    assert added_text(weekdays(), runs, COMMAND).splitlines() == [
        ':calendar: Scheduled *sales* `region=emea` `cron "0 9 * * 1-5"` (America/New_York) in this '
        "channel as `s-3f9c`.",
        "Next runs: <!date^1773061200^{date_short_pretty} {time}|Mon 2026-03-09 09:00 EDT> · "
        "<!date^1773147600^{date_short_pretty} {time}|Tue 2026-03-10 09:00 EDT> · "
        "<!date^1773234000^{date_short_pretty} {time}|Wed 2026-03-11 09:00 EDT>",
        "Stop it with `/run-report schedule remove s-3f9c`, or pause it with `/run-report schedule pause s-3f9c`.",
    ]


def test_a_listed_schedule_shows_its_next_run_and_how_its_last_run_went() -> None:
    state = RunState(last_run=NINE_NY.timestamp(), last_job_id="0a1b2c3d")
    record = JobRecord(
        job=Job(id="0a1b2c3d", report="sales", args={}, channel="C0GEN", user=""), state=JobState.FAILED
    )
    line = schedule_line(weekdays(misfire="skip"), state, NINE_NY.timestamp() + 86400, record)
    assert line.splitlines() == [
        '• `s-3f9c` *sales* `region=emea` `cron "0 9 * * 1-5"` (America/New_York) `misfire=skip`',
        "    next run: <!date^1773147600^{date_short_pretty} {time}|Tue 2026-03-10 09:00 EDT> · "
        "last run: <!date^1773061200^{date_short_pretty} {time}|Mon 2026-03-09 09:00 EDT> :x: failed "
        "(job `0a1b2c3d`)",
    ]


def test_a_paused_static_schedule_says_so_and_one_never_run_says_none_yet() -> None:
    line = schedule_line(weekdays(paused=True, static=True), None, None, None)
    head, times = line.splitlines()
    assert head.endswith("_static, from configuration_ :double_vertical_bar: *paused*")
    assert times == "    next run: paused · last run: none yet"


def test_a_last_run_whose_record_has_expired_still_names_its_job() -> None:
    state = RunState(last_run=NINE_NY.timestamp(), last_job_id="0a1b2c3d")
    line = schedule_line(weekdays(), state, None, None)
    assert line.endswith(
        "last run: <!date^1773061200^{date_short_pretty} {time}|Mon 2026-03-09 09:00 EDT> (job `0a1b2c3d`)"
    )


def test_a_long_argument_is_shortened_in_the_list() -> None:
    line = schedule_line(weekdays(args={"note": "n" * 500}), None, None, None)
    assert "n" * (ARG_SHOWN - 1) + "…" in line and "n" * ARG_SHOWN not in line


def test_an_empty_list_says_how_to_add_one_and_a_long_one_how_to_see_the_next_page() -> None:
    empty = list_text([], Page(items=[], number=1, count=1, after=0), COMMAND)
    assert empty == (
        "This channel has no schedules. Add one with `/run-report schedule add sales every 1d` or "
        '`/run-report schedule add sales cron "0 9 * * 1-5"`.'
    )
    lines = ["• one", "• two"]
    first = list_text(lines, Page(items=[], number=1, count=3, after=15), COMMAND)
    assert first == (
        "*Schedules in this channel* (page 1 of 3)\n• one\n• two\n\n"
        "… and 15 more: `/run-report schedule list page 2`"
    )
    assert list_text(lines, Page(items=[], number=1, count=1, after=0), COMMAND) == (
        "*Schedules in this channel*\n• one\n• two"
    )
