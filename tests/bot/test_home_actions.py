"""The App Home's buttons as the clicker sees their answers: each does what its command does,
under the command's rules, and only the schedule's owner or an admin may use them.

The real command handler and schedule commands on the in-memory store; the broker is a stand-in
that keeps what was published. Nothing here needs a service.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.commands import CommandHandler, Reply, answer
from bot.home import HomeActions
from bot.publish import Publisher
from bot.schedule_commands import ScheduleCommands, install_schedule_commands
from tasks.jobs.records import Job, JobRecords
from tasks.reports import Registry, Report
from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
from tasks.settings import Settings
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit

ALICE, BOB, ADMIN = "U0ALICE", "U0BOB", "U0ADMIN"
SCHEDULE = Schedule(
    id="s-a1b2c3",
    report="echo",
    args={"text": "hi"},
    rule=Rule(every_seconds=3600, tz="UTC"),
    channel="C0SALES",
    user=ALICE,
)


def echo(text: str = "hello") -> str:
    return text


class KeptPublisher(Publisher):
    """The broker: keeps each job instead of sending it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.jobs: list[Job] = []

    def publish(self, job: Job, time_limit: float, *, bulk: bool = False) -> None:
        self.jobs.append(job)


def home_actions(**extra: Any) -> tuple[HomeActions, KeptPublisher]:
    registry = Registry()
    registry.add(Report.from_function(echo, name="echo", help="Say the text back"))
    config = Settings(slack_bot_token="xoxb-x", slack_api_url="http://127.0.0.1:9/api/", **extra)
    publisher = KeptPublisher(config)
    handler = CommandHandler(config, registry, publisher, JobRecords(MemoryStore()))
    install_schedule_commands(handler, config)
    ScheduleStore(handler.records.store).add(SCHEDULE)
    return HomeActions(config, handler, ScheduleCommands(config, handler)), publisher


def click(work: Any) -> Reply:
    return answer(work, what="Home button")


def stored(home: HomeActions) -> Schedule | None:
    return ScheduleStore(home.store).get(SCHEDULE.id)


def test_the_owner_pauses_resumes_and_removes_their_schedule() -> None:
    home, _ = home_actions()
    reply = click(lambda: home.pause(SCHEDULE.id, ALICE))
    assert reply.text.startswith(":double_vertical_bar: Paused schedule `s-a1b2c3`")
    assert reply.after, "the Homes it shows in are refreshed after the ack"
    assert (schedule := stored(home)) is not None and schedule.paused
    assert click(lambda: home.resume(SCHEDULE.id, ALICE)).text.startswith(":arrow_forward: Resumed")
    assert click(lambda: home.remove(SCHEDULE.id, ALICE)).text.startswith(":wastebasket: Removed")
    assert stored(home) is None


def test_someone_elses_pause_is_refused_as_an_unknown_schedule_and_changes_nothing() -> None:
    home, publisher = home_actions()
    for work in (home.pause, home.remove, home.run_now):
        reply = click(lambda work=work: work(SCHEDULE.id, BOB))
        assert reply.outcome == "refused"
        assert reply.text.startswith("There is no schedule `s-a1b2c3` that you may manage.")
    assert (schedule := stored(home)) is not None and not schedule.paused
    assert publisher.jobs == []


def test_with_admins_set_only_they_change_schedules_as_the_commands_say() -> None:
    home, _ = home_actions(admin_users=(ADMIN,))
    refused = click(lambda: home.pause(SCHEDULE.id, ALICE))
    assert refused.outcome == "refused" and refused.text.startswith("Only <@U0ADMIN> may pause schedules")
    assert click(lambda: home.pause(SCHEDULE.id, ADMIN)).outcome == "ok"
    assert (schedule := stored(home)) is not None and schedule.paused


def test_run_now_queues_the_report_in_the_schedules_channel_for_the_clicker() -> None:
    home, publisher = home_actions(admin_users=(ADMIN,))
    reply = click(lambda: home.run_now(SCHEDULE.id, ADMIN, team="T0TEST", trigger_id="1.2.abc"))
    assert reply.outcome == "queued", reply.text
    [job] = publisher.jobs
    assert (job.report, job.args, job.channel, job.user) == ("echo", {"text": "hi"}, "C0SALES", ADMIN)
    again = click(lambda: home.run_now(SCHEDULE.id, ADMIN, team="T0TEST", trigger_id="1.2.abc"))
    assert again.outcome == "replayed" and len(publisher.jobs) == 1, "one job per delivery"


def test_a_forged_schedule_id_is_refused_and_shown_escaped() -> None:
    home, _ = home_actions()
    reply = click(lambda: home.pause("<!channel>", ALICE))
    assert reply.outcome == "refused"
    assert "<!channel>" not in reply.text and "&lt;!channel&gt;" in reply.text
