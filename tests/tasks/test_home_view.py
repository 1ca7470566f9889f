"""The App Home as its reader sees it: their schedules with the buttons they may use, their
recent jobs with links, everything typed escaped, and never more than Slack's 100 blocks.

The view is built from plain values (`home_view`) and from an in-memory store (`home_for`), and
checked with slack_sdk's own validators, which refuse what Slack would refuse.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.models.views import View

from tasks.jobs.records import HOME_STALE_INDEX, Job, JobRecord, JobRecords, JobState
from tasks.rendering.home import (
    HOME_PAUSE_ACTION,
    HOME_REMOVE_ACTION,
    HOME_RESUME_ACTION,
    HOME_RUN_NOW_ACTION,
    MAX_BLOCKS,
    RUN_FORM_ACTION,
    SCHEDULE_FORM_ACTION,
    ScheduleRow,
    home_view,
)
from tasks.schedules.home_refresh import HomeRefresher, home_for, mark_opened, refresh_home, refresh_stale
from tasks.schedules.schedule import Rule, RunState, Schedule, ScheduleStore
from tasks.settings import Settings
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit

ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
WEB = "https://slack.com/"
NOW = 1_767_261_600.0  # 2026-01-01 10:00 UTC


def schedule(n: int = 1, *, user: str = ALICE, paused: bool = False, **args: str) -> Schedule:
    return Schedule(
        id=f"s-{n:06x}",
        report="sales",
        args=args or {"region": "emea"},
        rule=Rule(cron="0 9 * * 1-5", tz="Europe/Paris"),
        channel="C0SALES",
        user=user,
        created_at=NOW - 86400 + n,
        since=NOW - 86400,
        paused=paused,
    )


@dataclass(frozen=True)
class PausedWithReason(Schedule):
    """A schedule as the digests work stores one it paused itself (`paused_reason`)."""

    paused_reason: str = ""


def record(n: int, state: JobState = JobState.SUCCEEDED, *, user: str = ALICE, ts: str = "") -> JobRecord:
    job = Job(id=f"{n:08x}", report="sales", args={"region": "emea"}, channel="C0SALES", user=user)
    return JobRecord(job=job, state=state, finished_at=NOW, status_ts=ts)


def rendered(view: View) -> dict[str, Any]:
    """The view as views.publish would send it; slack_sdk validates it on the way."""
    data = view.to_dict()
    assert data["type"] == "home"
    return data


def text(view: View) -> str:
    return json.dumps(rendered(view), ensure_ascii=False)


def buttons(view: View, block_id: str) -> list[tuple[str, str, str]]:
    """(label, action_id, value) of the buttons in the block `block_id`."""
    block = next(b for b in rendered(view)["blocks"] if b.get("block_id") == block_id)
    return [(e["text"]["text"], e["action_id"], e.get("value", "")) for e in block["elements"]]


def section(view: View, block_id: str) -> str:
    block = next(b for b in rendered(view)["blocks"] if b.get("block_id") == block_id)
    return str(block["text"]["text"])


def test_a_schedule_shows_what_runs_when_where_and_how_its_last_run_went() -> None:
    row = ScheduleRow(
        schedule(),
        next_run=NOW + 3600,
        state=RunState(last_run=NOW - 3600, last_job_id="0000002a"),
        last_job=record(42, JobState.FAILED),
    )
    view = home_view([row], [], web=WEB)
    shown = section(view, "home_schedule_s-000001")
    assert "*sales* `region=emea` in <#C0SALES>" in shown
    assert '`cron "0 9 * * 1-5"` (Europe/Paris)' in shown and "`s-000001`" in shown
    assert f"Next run: <!date^{int(NOW + 3600)}^" in shown, "an instant each reader sees in their zone"
    assert "|2026-01-01 12:00 CET>" in shown, "the fallback names the schedule's zone"
    assert f"last run: <!date^{int(NOW - 3600)}^" in shown and ":x: failed" in shown


def test_the_two_form_buttons_open_a_report_and_a_new_schedule() -> None:
    view = home_view([], [], web=WEB)
    assert buttons(view, "home_forms") == [
        ("Run a report…", RUN_FORM_ACTION, ""),
        ("New schedule…", SCHEDULE_FORM_ACTION, ""),
    ]
    assert "No schedules yet" in section(view, "home_no_schedules")
    assert "No jobs yet" in section(view, "home_jobs")


def test_a_running_schedule_offers_run_now_pause_edit_and_remove_with_a_confirm() -> None:
    view = home_view([ScheduleRow(schedule(), next_run=NOW + 60)], [], web=WEB)
    assert buttons(view, "home_buttons_s-000001") == [
        ("Run now", HOME_RUN_NOW_ACTION, "s-000001"),
        ("Pause", HOME_PAUSE_ACTION, "s-000001"),
        ("Edit…", SCHEDULE_FORM_ACTION, "s-000001"),
        ("Remove", HOME_REMOVE_ACTION, "s-000001"),
    ]
    block = next(b for b in rendered(view)["blocks"] if b.get("block_id") == "home_buttons_s-000001")
    remove = block["elements"][3]
    assert remove["style"] == "danger"
    assert remove["confirm"]["title"]["text"] == "Remove this schedule?"
    assert "will not run again" in remove["confirm"]["text"]["text"]


def test_a_paused_schedule_offers_resume_and_says_why_it_paused() -> None:
    paused = PausedWithReason(
        **{**schedule(paused=True).__dict__, "paused_reason": "channel <#C1> archived & gone"}
    )
    view = home_view([ScheduleRow(paused, next_run=None)], [], web=WEB)
    assert [b[0] for b in buttons(view, "home_buttons_s-000001")] == ["Run now", "Resume", "Edit…", "Remove"]
    assert buttons(view, "home_buttons_s-000001")[1] == ("Resume", HOME_RESUME_ACTION, "s-000001")
    shown = section(view, "home_schedule_s-000001")
    assert ":double_vertical_bar: *Paused*: channel &lt;#C1&gt; archived &amp; gone" in shown
    assert "Next run" not in shown


def test_someone_who_may_not_change_schedules_gets_run_now_only() -> None:
    view = home_view([ScheduleRow(schedule(), next_run=NOW, may_change=False)], [], web=WEB)
    assert buttons(view, "home_buttons_s-000001") == [("Run now", HOME_RUN_NOW_ACTION, "s-000001")]


def test_typed_text_is_escaped_and_never_pings_anyone() -> None:
    hostile = schedule(title="<!channel> & <@U0BOB> <https://evil|click>")
    notice = "Paused schedule `s-000001`."
    view = home_view([ScheduleRow(hostile, next_run=NOW)], [record(1)], web=WEB, notice=notice)
    shown = text(view)
    assert "<!channel>" not in shown and "<@U0BOB>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB&gt;" in shown
    assert section(view, "home_notice") == notice


def test_two_hundred_schedules_fit_in_a_hundred_blocks_and_say_how_many_more() -> None:
    rows = [ScheduleRow(schedule(n), next_run=NOW + n) for n in range(200)]
    jobs = [record(n, ts=f"{NOW + n:.6f}") for n in range(30)]
    view = home_view(rows, jobs, web=WEB, notice="hello", admin=True)
    data = rendered(view)
    assert len(data["blocks"]) <= MAX_BLOCKS
    more = next(b for b in data["blocks"] if b.get("block_id") == "home_more_schedules")
    assert "… and 160 more" in more["elements"][0]["text"]
    assert data["blocks"][-1]["block_id"] == "home_jobs", "the jobs are never crowded out"
    assert "All schedules" in json.dumps(data)


def test_recent_jobs_show_state_when_and_a_link_to_their_status_message() -> None:
    jobs = [
        record(1, JobState.SUCCEEDED, ts="1767261600.000100"),
        record(2, JobState.RUNNING),
        record(3, JobState.CANCELLED),
    ]
    shown = section(home_view([], jobs, web=WEB), "home_jobs")
    lines = shown.split("\n")
    assert len(lines) == 3
    assert lines[0].startswith(":white_check_mark: *sales* `region=emea` · succeeded · <!date^")
    assert "<https://slack.com/archives/C0SALES/p1767261600000100|job 00000001>" in lines[0]
    assert ":hourglass_flowing_sand:" in lines[1] and "job `00000002`" in lines[1], "no message yet: no link"
    assert "cancelled" in lines[2]


# -- loading it from the store ------------------------------------------------------------


def settings(**extra: Any) -> Settings:
    return Settings(slack_bot_token="xoxb-x", slack_api_url="http://127.0.0.1:9/api/", **extra)


def stored(store: MemoryStore, *schedules: Schedule) -> None:
    for s in schedules:
        ScheduleStore(store).add(s)


def listed_ids(view: View) -> list[str]:
    return [
        b["block_id"][len("home_schedule_") :]
        for b in rendered(view)["blocks"]
        if b.get("block_id", "").startswith("home_schedule_")
    ]


def test_each_person_sees_their_own_schedules_and_an_admin_sees_all() -> None:
    store = MemoryStore()
    stored(store, schedule(1, user=ALICE), schedule(2, user=BOB))
    config = settings(admin_users=(ADMIN,))
    assert listed_ids(home_for(store, ALICE, settings=config, now=NOW)) == ["s-000001"]
    assert listed_ids(home_for(store, BOB, settings=config, now=NOW)) == ["s-000002"]
    assert listed_ids(home_for(store, ADMIN, settings=config, now=NOW)) == ["s-000001", "s-000002"]
    # With ADMIN_USERS set, only admins change schedules (the commands' rule): Alice may run hers.
    alice = home_for(store, ALICE, settings=config, now=NOW)
    assert [b[0] for b in buttons(alice, "home_buttons_s-000001")] == ["Run now"]
    admin = home_for(store, ADMIN, settings=config, now=NOW)
    assert [b[0] for b in buttons(admin, "home_buttons_s-000002")] == ["Run now", "Pause", "Edit…", "Remove"]


def test_a_persons_recent_jobs_are_theirs_newest_first() -> None:
    store = MemoryStore()
    records = JobRecords(store)
    for n, user in enumerate([ALICE, BOB, ALICE]):
        records.created(Job(id=f"{n:08x}", report="sales", args={}, channel="C0SALES", user=user))
    assert [r.job.id for r in records.recent_for_user(ALICE)] == ["00000002", "00000000"]
    shown = section(home_for(store, ALICE, settings=settings(), now=NOW), "home_jobs")
    assert "00000002" in shown and "00000000" in shown and "00000001" not in shown


class Published:
    """A WebApi stand-in that keeps what was published, or fails as Slack can."""

    def __init__(self, error: Exception | None = None) -> None:
        self.views: dict[str, View] = {}
        self.error = error

    def publish_home(self, user: str, view: View) -> None:
        if self.error is not None:
            raise self.error
        self.views[user] = view


def test_a_home_is_published_only_for_people_who_opened_it() -> None:
    store, api = MemoryStore(), Published()
    config = settings()
    assert not refresh_home(api, store, ALICE, settings=config)  # type: ignore[arg-type]
    assert api.views == {}
    assert refresh_home(api, store, ALICE, settings=config, opened=True)  # type: ignore[arg-type]
    mark_opened(store, BOB)
    assert refresh_home(api, store, BOB, settings=config, notice="hi")  # type: ignore[arg-type]
    assert set(api.views) == {ALICE, BOB}
    assert section(api.views[BOB], "home_notice") == "hi"


def test_a_failed_publish_is_a_log_line_never_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    mark_opened(store, ALICE)
    api = Published(RuntimeError("Slack said <secret>"))
    assert not refresh_home(api, store, ALICE, settings=settings())  # type: ignore[arg-type]
    assert "App Home of U0ALICE not published: RuntimeError" in caplog.text
    assert "secret" not in caplog.text
    assert not refresh_home(api, store, "U1> <!channel", settings=settings(), opened=True)  # type: ignore[arg-type]


def test_a_job_that_ends_marks_its_requesters_home_stale_for_beat_to_publish() -> None:
    store, api = MemoryStore(), Published()
    records = JobRecords(store)
    job = Job(id="0000000a", report="sales", args={}, channel="C0SALES", user=ALICE)
    records.created(job)
    assert store.due(HOME_STALE_INDEX, NOW * 2, 10) == [], "a queued job changes nothing yet"
    records.save(JobRecord(job=job, state=JobState.SUCCEEDED, finished_at=NOW))
    assert store.due(HOME_STALE_INDEX, NOW * 2, 10) == [ALICE]

    mark_opened(store, ALICE)
    refresher = HomeRefresher(lambda: api, lambda: store, settings(), gap=0.0)  # type: ignore[arg-type,return-value]
    assert refresh_stale(refresher, store, NOW * 2) == 1
    assert store.due(HOME_STALE_INDEX, NOW * 2, 10) == [], "taken out before it is published"
    deadline = time.monotonic() + 5
    while ALICE not in api.views and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "0000000a" in section(api.views[ALICE], "home_jobs")


def test_a_change_the_worker_makes_outside_a_jobs_end_can_mark_a_home_stale_too() -> None:
    store = MemoryStore()
    JobRecords(store).mark_home_stale(BOB)
    assert store.due(HOME_STALE_INDEX, time.time() + 1, 10) == [BOB]
