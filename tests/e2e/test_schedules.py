"""Schedules as a channel sees them: made from Slack, fired by real beat processes, exactly once.

A bot of its own (SCHEDULE_MIN_INTERVAL=2, one admin, a REPORTS_FILE with a static schedule),
real `python run.py beat` processes (two at a time, as deployments run them), the session's
worker, real RabbitMQ and Redis, and the fake Slack.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.support import REDIS_PREFIX, REDIS_URL, Process, base_env, free_port, start_bot, wait_until

ADMIN = "U0ADMIN"
SCHEDULE_ID = re.compile(r"as `(s-[0-9a-f]{6})`")
STATIC_TOML = """
[schedules.static-digest]
report = "echo"
args = { text = "static" }
cron = "0 9 * * 1-5"
tz = "Europe/Berlin"
channel = "C0STATIC"

[schedules.ghost-digest]
report = "nosuch"
every = "1d"
channel = "C0STATIC"
"""


@pytest.fixture(scope="module")
def reports_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schedules") / "reports.toml"
    path.write_text(STATIC_TOML, encoding="utf-8")
    return path


def schedule_env(slack_server, reports_file: Path) -> dict[str, str]:
    return {"SCHEDULE_MIN_INTERVAL": "2", "ADMIN_USERS": ADMIN, "REPORTS_FILE": str(reports_file)}


@pytest.fixture(scope="module")
def schedule_bot(services, slack_server, reports_file, tmp_path_factory) -> Iterator[Process]:
    """`python run.py bot` with a 2 s minimum interval; commands go to it for this module."""
    previous = getattr(slack_server, "bot_url", None)
    proc, port = start_bot(
        slack_server,
        tmp_path_factory.mktemp("schedule-bot"),
        "schedule-bot",
        **schedule_env(slack_server, reports_file),
    )
    slack_server.bot_url = f"http://127.0.0.1:{port}/slack/events"
    yield proc
    proc.stop()
    slack_server.bot_url = previous


@pytest.fixture
def no_schedules(services) -> Iterator[None]:
    """Each test starts and ends with no schedules made from Slack (static ones stay)."""
    import redis

    r = redis.Redis.from_url(REDIS_URL)

    def clear() -> None:
        r.delete(f"{REDIS_PREFIX}schedules", f"{REDIS_PREFIX}schedule-runs", f"{REDIS_PREFIX}beat:leader")

    clear()
    yield
    clear()


#: The two ways a user may start beat; a group of beats alternates between them.
BEAT_COMMANDS = (["run.py", "beat"], ["-m", "celery", "-A", "tasks", "beat"])


class Beats:
    """Real beat processes, started as a user would: `python run.py beat`, and (every second one)
    `celery -A tasks beat`, which must run the same scheduler."""

    def __init__(self, slack_server, reports_file: Path, tmp: Path) -> None:
        self.env = base_env(slack_server.api_url, **schedule_env(slack_server, reports_file))
        self.tmp = tmp
        self.procs: list[Process] = []
        self.started = 0

    def start(self, count: int = 2, **env: str) -> list[Process]:
        new = []
        for _ in range(count):
            self.started += 1
            new.append(
                Process(
                    f"beat-{self.started}",
                    [sys.executable, *BEAT_COMMANDS[(self.started - 1) % 2]],
                    {**self.env, **env},
                    self.tmp,
                )
            )

        def up(proc: Process) -> bool:
            return "beat: Starting" in proc.log() or not proc.alive()

        for proc in new:
            wait_until(partial(up, proc), 30, what=f"{proc.name} to start")
            assert proc.alive(), proc.log()
        self.procs += new
        return new

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs = []

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.procs)


@pytest.fixture
def beats(slack_server, reports_file, tmp_path) -> Iterator[Beats]:
    group = Beats(slack_server, reports_file, tmp_path)
    yield group
    group.stop()


def command(slack, text: str, channel: str, user: str = ADMIN) -> str:
    response = slack.send_command("/run-report", text, channel=channel, user=user)
    assert response.ok, response
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


def runs_of(slack, channel: str, schedule_id: str) -> list:
    """The messages of a schedule's runs in the channel (one each), oldest first."""
    return [m for m in slack.messages(channel) if f"schedule `{schedule_id}`" in str(m.blocks)]


def job_id(message) -> str:
    match = re.search(r"job `([0-9a-f]{8})`", str(message.blocks))
    assert match, message.blocks
    return match.group(1)


def schedule_id_in(ack: str) -> str:
    """The id the `schedule add` answer gives; the test fails here, showing the answer, if it has none."""
    match = SCHEDULE_ID.search(ack)
    assert match, ack
    return match.group(1)


def fired(channel: str, schedule_id: str) -> set[str]:
    """The jobs made so far for a schedule's runs: beat records each in the channel's history as
    it publishes it, so a run fired is known here before its message is posted."""
    from tasks.jobs.records import HISTORY_LENGTH, JobRecords
    from tasks.store import make_store

    history = JobRecords(make_store(REDIS_URL, REDIS_PREFIX)).history(channel, HISTORY_LENGTH)
    return {r.job.id for r in history if r.job.schedule_id == schedule_id}


def posted_runs(slack, channel: str, schedule_id: str) -> list:
    """`runs_of`, once every run fired so far has posted its message."""
    made = fired(channel, schedule_id)
    wait_until(
        lambda: made <= {job_id(m) for m in runs_of(slack, channel, schedule_id)},
        timeout=15,
        what=f"the messages of {schedule_id}'s jobs {sorted(made)}",
    )
    return runs_of(slack, channel, schedule_id)


def last_leader_tick() -> float:
    """When the leading beat last began a pass: each pass extends its lock to LOCK_TTL from then."""
    import redis

    from tasks.schedules.beat import LEADER_KEY, LOCK_TTL

    left_ms = redis.Redis.from_url(REDIS_URL).pttl(f"{REDIS_PREFIX}{LEADER_KEY}")
    return time.time() - LOCK_TTL + left_ms / 1000 if left_ms > 0 else 0.0


def leader_passes_after(moment: float) -> None:
    """Wait until the leading beat has begun two passes after `moment`: the first of them, and
    whatever it dispatched, is then over (a beat's passes run one after another)."""
    first = wait_until(lambda: (t := last_leader_tick()) > moment and t, timeout=15, what="a pass of beat")
    wait_until(lambda: last_leader_tick() > first + 0.5, timeout=15, what="the pass after it")


def test_two_beats_post_each_tick_of_an_every_5s_schedule_once_and_removing_it_stops_it(
    slack, worker, schedule_bot, no_schedules, beats
):
    channel = "C0TICKS"
    beats.start(2)
    ack = command(slack, 'schedule add echo text="tick tock" every 5s tz=UTC', channel)
    schedule_id = schedule_id_in(ack)
    assert len(re.findall(r"UTC", ack.split("Next runs:")[1].split("\n")[0])) == 3, ack

    slack.wait_for(lambda: len(runs_of(slack, channel, schedule_id)) >= 3, timeout=25, message="three runs")
    leader_passes_after(time.time())  # a second post of a tick, if any, is fired by now
    runs = posted_runs(slack, channel, schedule_id)
    # One message per tick: consecutive runs are a tick apart, never two for one tick.
    stamps = [float(m.ts) for m in runs]
    assert all(b - a > 3.0 for a, b in zip(stamps, stamps[1:], strict=False)), (stamps, beats.logs())
    assert len({job_id(m) for m in runs}) == len(runs)
    # Each run is one message, the result itself with how it went, posted once it is done: no
    # status message to update, nothing in a thread, and no mention of the schedule's creator.
    first = runs[0]
    assert first.text.endswith("tick tock") and "tick tock" in str(first.blocks[0]), first
    # and the schedule's menu, not a job's buttons
    assert "succeeded in" in str(first.blocks) and "Run now" in str(first.blocks), first
    assert "<@" not in str(first.blocks) and "<@" not in first.text, first
    assert not first.edits and slack.thread(channel, first.ts) == [], first
    # Only one beat leads; the other stands by: both run our scheduler, however started.
    assert sum("leading" in p.log() for p in beats.procs) == 1
    assert all("tasks.schedules.beat.StoreScheduler" in p.log() for p in beats.procs), beats.logs()

    removed = command(slack, f"schedule remove {schedule_id}", channel)
    assert f"Removed schedule `{schedule_id}`" in removed
    leader_passes_after(time.time())  # a run already being published as the removal landed is out
    count = len(posted_runs(slack, channel, schedule_id))
    leader_passes_after(time.time() + 5)  # past the next run it would have had
    assert len(fired(channel, schedule_id)) == count, "a removed schedule must stop"
    assert len(runs_of(slack, channel, schedule_id)) == count, "a removed schedule must stop"


def scrape(port: int, path: str) -> tuple[int, str]:
    """A beat's monitoring endpoint: status and body (0 while it does not listen yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def answering(port: int, proc: Process) -> bool:
    return bool(scrape(port, "/healthz")[0]) or not proc.alive()


def beat_metrics(port: int) -> dict[str, float]:
    """A beat's /metrics, sample name -> value (beat's metrics have no labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = scrape(port, "/metrics")
    assert status == 200, body
    return {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}


def test_each_beat_serves_its_health_and_counts_the_runs_it_fired(
    slack, worker, schedule_bot, no_schedules, beats
):
    channel = "C0BEATMETRICS"
    ports = [free_port(), free_port()]
    for port in ports:
        (proc,) = beats.start(1, BEAT_METRICS_PORT=str(port))
        wait_until(partial(answering, port, proc), 30, what=f"{proc.name}'s /healthz")
    ack = command(slack, "schedule add echo text=counted every 2s tz=UTC", channel)
    schedule_id = schedule_id_in(ack)
    slack.wait_for(lambda: runs_of(slack, channel, schedule_id), timeout=15, message="a first run")
    leader_passes_after(time.time())

    healths = []
    for port in ports:
        status, body = scrape(port, "/healthz")
        assert status == 200, body
        healths.append(json.loads(body))
    # One leads, one stands by; both ticked a moment ago, so both are healthy.
    assert sorted(h["role"] for h in healths) == ["leading", "standing by"], healths
    assert all(h["ok"] is True and 0 <= h["last_tick_age"] < 5 for h in healths), healths
    leader, standby = (beat_metrics(ports[i]) for i in sorted((0, 1), key=lambda i: healths[i]["role"]))
    made = len(fired(channel, schedule_id))
    assert made >= 1
    assert leader["reportbot_beat_leading"] == 1 and standby["reportbot_beat_leading"] == 0
    # The leader published every run (another may fire between the two reads, never fewer).
    assert (
        leader["reportbot_beat_runs_fired_total"] >= made and standby["reportbot_beat_runs_fired_total"] == 0
    )
    assert (
        leader["reportbot_beat_leader_changes_total"] == 1
        and standby["reportbot_beat_leader_changes_total"] == 0
    )
    for counter in ("runs_skipped", "claims_lost", "publish_failures"):
        assert leader[f"reportbot_beat_{counter}_total"] == 0, counter
    assert scrape(ports[0], "/elsewhere")[0] == 404


def test_a_paused_schedule_stops_firing_and_fires_again_once_resumed(
    slack, worker, schedule_bot, no_schedules, beats
):
    channel = "C0PAUSE"
    beats.start(1)
    ack = command(slack, "schedule add echo text=paused-or-not every 3s tz=UTC", channel)
    schedule_id = schedule_id_in(ack)
    slack.wait_for(lambda: runs_of(slack, channel, schedule_id), timeout=15, message="a first run")

    assert f"Paused schedule `{schedule_id}`" in command(slack, f"schedule pause {schedule_id}", channel)
    leader_passes_after(time.time())  # a run already being published as the pause landed is out
    count = len(posted_runs(slack, channel, schedule_id))
    leader_passes_after(time.time() + 2 * 3)  # past two runs it would have had
    assert len(fired(channel, schedule_id)) == count, "a paused schedule must not fire"
    assert len(runs_of(slack, channel, schedule_id)) == count, "a paused schedule must not fire"

    assert f"Resumed schedule `{schedule_id}`" in command(slack, f"schedule resume {schedule_id}", channel)
    slack.wait_for(
        lambda: len(runs_of(slack, channel, schedule_id)) > count, timeout=15, message="a run after resume"
    )


def test_restarting_both_beats_loses_no_schedule(slack, worker, schedule_bot, no_schedules, beats):
    channel = "C0RESTART"
    first = beats.start(2)
    ack = command(slack, "schedule add echo text=still-here every 5s tz=UTC", channel)
    schedule_id = schedule_id_in(ack)
    slack.wait_for(lambda: runs_of(slack, channel, schedule_id), timeout=15, message="a first run")
    for proc in first:
        proc.stop()
    before = len(runs_of(slack, channel, schedule_id))

    beats.start(2)
    slack.wait_for(
        lambda: len(runs_of(slack, channel, schedule_id)) > before,
        timeout=20,
        message="a run after the restart",
    )
    listing = command(slack, "schedule list", channel)
    assert f"`{schedule_id}`" in listing and "every 5s" in listing and "last run:" in listing


def test_a_run_is_published_once_even_when_two_beats_both_think_they_lead(
    slack, worker, services, reports_file
):
    """The second guard: without the lock, the per-run claim alone keeps a tick to one post."""
    from tasks.reports import load_reports
    from tasks.schedules.beat import Dispatcher
    from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
    from tasks.settings import load_settings
    from tasks.store import make_store
    from tasks.worker.celery_config import make_app

    settings = load_settings(base_env(slack.api_url, **schedule_env(slack, reports_file)), dotenv=None)
    store = make_store(settings.redis_url, settings.redis_prefix)
    registry = load_reports(settings.report_modules)
    now = time.time()
    schedule = Schedule(
        id="s-b0th00",
        report="echo",
        args={"text": "once"},
        rule=Rule(every_seconds=3600),
        channel="C0TWICE",
        user=ADMIN,
        since=now - 3600.5,
    )
    ScheduleStore(store).add(schedule)
    try:
        one, two = (Dispatcher(settings, store, registry, make_app(settings)) for _ in range(2))
        # Both read the schedule's state before either wrote it back, as two leaders would.
        stale = ScheduleStore(store).state(schedule.id)
        one.run_one(schedule, stale, now)
        two.run_one(schedule, stale, now + 0.2)
        slack.wait_for(lambda: runs_of(slack, "C0TWICE", schedule.id), timeout=15)
        # run_one has returned: every job either published is in the history, and has posted.
        assert len(posted_runs(slack, "C0TWICE", schedule.id)) == 1
    finally:
        ScheduleStore(store).remove(schedule.id)


def test_schedule_list_shows_the_channels_schedules_and_static_ones_marked(slack, schedule_bot, no_schedules):
    slack.set_user(ADMIN, tz="America/New_York")
    ack = command(slack, 'schedule add echo text="morning" cron "0 9 * * 1-5"', "C0STATIC")
    schedule_id = schedule_id_in(ack)
    # No tz= given: the adding user's zone from Slack, and the next runs shown in it.
    assert "(America/New_York)" in ack and re.search(r"09:00 E[SD]T", ack), ack
    listing = command(slack, "schedule list", "C0STATIC", user="U0BOB")
    assert f"`{schedule_id}`" in listing and "`static-digest`" in listing
    assert "static, from configuration" in listing and "(Europe/Berlin)" in listing
    assert "ghost-digest" not in listing  # its report does not exist, so it never runs
    assert "text=morning" in listing and "next run:" in listing and "last run: none yet" in listing
    assert f"`{schedule_id}`" not in command(slack, "schedule list", "C0ELSEWHERE")

    paused = command(slack, f"schedule pause {schedule_id}", "C0STATIC")
    assert "Paused" in paused and "paused" in command(slack, "schedule list", "C0STATIC")
    assert "Resumed" in command(slack, f"schedule resume {schedule_id}", "C0STATIC")


@pytest.mark.parametrize(
    ("text", "user", "says"),
    [
        ("schedule add nosuch every 1h", ADMIN, "There is no report called `nosuch`"),
        ("schedule add echo times=many every 1h", ADMIN, "`times`"),
        ("schedule add echo colour=red every 1h", ADMIN, "has no argument `colour`"),
        ("schedule add echo every 1s", ADMIN, "too often"),
        ('schedule add echo cron "61 9 * * *"', ADMIN, "is not valid"),
        ('schedule add echo cron "0 9 * *"', ADMIN, "needs 5"),
        ("schedule add echo every 1h tz=Mars/Olympus", ADMIN, "`Mars/Olympus` is not a time zone"),
        ("schedule add echo every 1h misfire=maybe", ADMIN, "misfire=skip"),
        ("schedule add echo every 1h", "U0BOB", "Only <@U0ADMIN> may add schedules"),
        ("schedule remove s-000000", ADMIN, "There is no schedule `s-000000`"),
        ("schedule remove static-digest", ADMIN, "declared in the configuration"),
        ("schedule pause static-digest", ADMIN, "cannot be paused from Slack"),
        ('schedule add echo text="<!channel>" cron "0 99 * * *"', ADMIN, "is not valid"),
    ],
)
def test_every_bad_schedule_command_gets_a_specific_answer_and_stores_nothing(
    slack, schedule_bot, no_schedules, text, user, says
):
    answer = command(slack, text, "C0STATIC", user=user)
    assert says in answer, answer
    assert "Traceback" not in answer and "<!channel>" not in answer
    listing = command(slack, "schedule list", "C0STATIC")
    assert not re.search(r"`s-[0-9a-f]{6}`", listing), listing


def test_schedule_list_after_resume_shows_a_next_run_to_come_not_one_planned_while_paused(
    slack, schedule_bot, no_schedules
):
    """No beat runs here, so the run state beat wrote before the pause is still in Redis."""
    from datetime import UTC, datetime

    from tasks.schedules.schedule import RunState, ScheduleStore
    from tasks.store import RedisStore

    ack = command(slack, "schedule add echo every 1h tz=UTC", "C0RESUME")
    schedule_id = schedule_id_in(ack)
    assert "Paused" in command(slack, f"schedule pause {schedule_id}", "C0RESUME")
    schedules = ScheduleStore(RedisStore(REDIS_URL, prefix=REDIS_PREFIX))
    paused = schedules.get(schedule_id)
    assert paused is not None
    stale = time.time() - 7200  # a run beat planned, due while the schedule was paused
    schedules.save_state(schedule_id, RunState(next_run=stale, rule_key=paused.rule.key))
    resumed_at = time.time()
    assert "Resumed" in command(slack, f"schedule resume {schedule_id}", "C0RESUME")

    listing = command(slack, "schedule list", "C0RESUME")
    # The instant for each reader's zone, and the schedule's zone (UTC) where Slack cannot format it.
    shown = re.search(
        r"next run: <!date\^(\d+)\^[^|>]+\|\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?) UTC>", listing
    )
    assert shown, listing
    fmt = "%Y-%m-%d %H:%M:%S" if shown.group(2).count(":") == 2 else "%Y-%m-%d %H:%M"
    next_run = datetime.strptime(shown.group(2), fmt).replace(tzinfo=UTC).timestamp()
    assert next_run == int(shown.group(1)), listing
    assert resumed_at < next_run <= resumed_at + 3600 + 60, listing


# -- fair use: limits, long lists, other channels' schedules ----------------------------------


@pytest.fixture(scope="module")
def open_bot(services, slack_server, reports_file, tmp_path_factory) -> Iterator[Process]:
    """A bot with no ADMIN_USERS (everyone may add schedules) and small limits."""
    proc, port = start_bot(
        slack_server,
        tmp_path_factory.mktemp("open-bot"),
        "open-bot",
        SCHEDULE_MIN_INTERVAL="60",
        REPORTS_FILE=str(reports_file),
        SCHEDULES_PER_USER="3",
        SCHEDULES_PER_CHANNEL="5",
    )
    proc.port = port
    yield proc
    proc.stop()


@pytest.fixture
def to_open_bot(slack_server, open_bot) -> Iterator[None]:
    previous = getattr(slack_server, "bot_url", None)
    slack_server.bot_url = f"http://127.0.0.1:{open_bot.port}/slack/events"
    yield
    slack_server.bot_url = previous


def test_one_person_and_one_channel_are_held_to_their_schedule_limits(slack, to_open_bot, no_schedules):
    for n in range(3):
        assert "Scheduled" in command(slack, "schedule add echo every 1m tz=UTC", f"C0LIM{n}", user="U0FLOOD")
    refused = command(slack, "schedule add echo every 1m tz=UTC", "C0LIM9", user="U0FLOOD")
    assert "You have 3 schedules already" in refused, refused

    for n in range(4):  # C0LIM0 has one of U0FLOOD's already
        assert "Scheduled" in command(slack, "schedule add echo every 1h tz=UTC", "C0LIM0", user=f"U0P{n}")
    full = command(slack, "schedule add echo every 1h tz=UTC", "C0LIM0", user="U0LATE")
    assert "This channel has 5 schedules already" in full, full


def test_a_refused_schedule_change_says_nothing_of_the_other_channel(slack, to_open_bot, no_schedules):
    ack = command(slack, "schedule add echo every 1h tz=UTC", "C0PRIV", user="U0OWNER")
    schedule_id = schedule_id_in(ack)
    for verb in ("remove", "pause", "resume"):
        theirs = command(slack, f"schedule {verb} {schedule_id}", "C0PUBLIC", user="U0NOSY")
        unknown = command(slack, f"schedule {verb} s-000000", "C0PUBLIC", user="U0NOSY")
        assert "C0PRIV" not in theirs and theirs == unknown.replace("s-000000", schedule_id), theirs
    assert f"`{schedule_id}`" in command(slack, "schedule list", "C0PRIV")


def test_five_hundred_schedules_are_listed_in_pages_that_slack_shows(slack, schedule_bot, no_schedules):
    from tasks.schedules.schedule import Rule, Schedule, ScheduleStore
    from tasks.store import RedisStore

    schedules = ScheduleStore(RedisStore(REDIS_URL, prefix=REDIS_PREFIX))
    now = time.time()
    for n in range(500):
        schedules.add(
            Schedule(
                id=f"s-{n:06x}",
                report="echo",
                args={"text": f"flood {n}"},
                rule=Rule(every_seconds=60, tz="UTC"),
                channel="C0FULL",
                user="U0FLOOD",
                created_at=now + n / 1000,
                since=now,
            )
        )
    started = time.monotonic()
    first = command(slack, "schedule list", "C0FULL")
    assert time.monotonic() - started < 3.0
    assert len(first) <= 4000 and "`s-000000`" in first
    assert "… and 490 more: `/run-report schedule list page 2`" in first, first[-200:]
    last = command(slack, "schedule list page 50", "C0FULL")
    assert "`s-0001f3`" in last and "more:" not in last and len(last) <= 4000
    # What Slack showed the person: the whole answer, not an error.
    assert any("page 50 of 50" in e.text for e in slack.ephemerals(channel="C0FULL"))
