"""Schedule rules with a frozen clock (time zones, DST, missed runs), and their store in Redis."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tasks.schedules.schedule import (
    Rule,
    RunState,
    Schedule,
    ScheduleError,
    ScheduleStore,
    load_static_schedules,
    next_runs,
    plan,
    validate_rule,
)

NY = ZoneInfo("America/New_York")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def walls(rule: Rule, after: datetime, count: int) -> list[str]:
    return [t.strftime("%m-%d %H:%M %Z") for t in next_runs(rule, after, count=count)]


# -- time zones and DST ---------------------------------------------------------------------


@pytest.mark.unit
def test_a_daily_nine_oclock_stays_nine_local_across_spring_forward_and_fall_back():
    rule = Rule(cron="0 9 * * *", tz="America/New_York")
    assert walls(rule, local(2026, 3, 7, 10), 2) == ["03-08 09:00 EDT", "03-09 09:00 EDT"]
    assert walls(rule, local(2026, 3, 6, 10), 1) == ["03-07 09:00 EST"]
    assert walls(rule, local(2026, 10, 31, 10), 2) == ["11-01 09:00 EST", "11-02 09:00 EST"]
    # In UTC that is 14:00 before spring-forward and 13:00 after: the wall clock is what holds.
    spring = next_runs(rule, local(2026, 3, 6, 10), count=3)
    assert [t.astimezone(UTC).hour for t in spring] == [14, 13, 13]


@pytest.mark.unit
def test_a_time_that_does_not_exist_on_spring_forward_day_fires_once_when_the_clock_jumps():
    rule = Rule(cron="30 2 * * *", tz="America/New_York")
    assert walls(rule, local(2026, 3, 7, 3), 3) == ["03-08 03:30 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"]


@pytest.mark.unit
def test_a_time_that_occurs_twice_on_fall_back_day_fires_once():
    rule = Rule(cron="30 1 * * *", tz="America/New_York")
    runs = next_runs(rule, local(2026, 10, 31, 3), count=3)
    assert [t.strftime("%m-%d %H:%M %Z") for t in runs] == [
        "11-01 01:30 EDT",
        "11-02 01:30 EST",
        "11-03 01:30 EST",
    ]


@pytest.mark.unit
def test_an_hourly_cron_runs_every_real_hour_through_fall_back():
    rule = Rule(cron="0 * * * *", tz="America/New_York")
    assert walls(rule, local(2026, 11, 1, 0, 30), 4) == [
        "11-01 01:00 EDT",
        "11-01 01:00 EST",
        "11-01 02:00 EST",
        "11-01 03:00 EST",
    ]


@pytest.mark.unit
def test_cron_weekday_numbers_mean_what_crontab_means_sunday_is_zero():
    weekdays = next_runs(Rule(cron="0 9 * * 1-5", tz="UTC"), datetime(2026, 3, 6, 10, tzinfo=UTC), count=5)
    assert [t.strftime("%a") for t in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    sundays = next_runs(Rule(cron="0 9 * * 0", tz="UTC"), datetime(2026, 3, 6, tzinfo=UTC), count=2)
    assert {t.strftime("%a") for t in sundays} == {"Sun"}
    weekend = next_runs(Rule(cron="0 9 * * 6-7", tz="UTC"), datetime(2026, 3, 6, 10, tzinfo=UTC), count=2)
    assert [t.strftime("%a") for t in weekend] == ["Sat", "Sun"]


@pytest.mark.unit
def test_an_interval_counts_real_seconds_whatever_the_zone():
    rule = Rule(every_seconds=3600, tz="America/New_York")
    anchor = local(2026, 3, 8, 0).timestamp()
    runs = next_runs(rule, local(2026, 3, 8, 0), anchor=anchor, count=3)
    assert [t.strftime("%H:%M %Z") for t in runs] == ["01:00 EST", "03:00 EDT", "04:00 EDT"]


# -- refusals -------------------------------------------------------------------------------

NOW = datetime(2026, 3, 6, 12, tzinfo=UTC)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (Rule(every_seconds=30), "too often"),
        (Rule(cron="61 * * * *"), "not valid"),
        (Rule(cron="0 9 * *"), "needs 5"),
        (Rule(cron="0 9 * * funday"), "not valid"),
        (Rule(cron="0 9 1 * 1"), "both the day of the month and the day of the week"),
        (Rule(cron="0 9 31 2 *"), "never fires"),
        (Rule(cron="0 9 * * *", tz="Mars/Olympus"), "not a time zone"),
        (Rule(every_seconds=3600, tz="../../etc/passwd"), "not a time zone"),
    ],
)
def test_bad_rules_are_refused_saying_what_was_wrong(rule: Rule, says: str):
    with pytest.raises(ScheduleError) as refused:
        validate_rule(rule, 60, NOW)
    assert says in refused.value.message
    assert "`" in refused.value.message  # names the bad part or a right example as code


@pytest.mark.unit
def test_a_good_rule_previews_its_next_three_runs():
    runs = validate_rule(Rule(cron="0 9 * * 1-5", tz="Europe/Berlin"), 60, NOW)
    assert [t.strftime("%a %H:%M %Z") for t in runs] == ["Mon 09:00 CET", "Tue 09:00 CET", "Wed 09:00 CET"]


@pytest.mark.unit
def test_a_lower_minimum_interval_allows_short_intervals():
    assert len(validate_rule(Rule(every_seconds=5), 1, NOW)) == 3


# -- missed runs ----------------------------------------------------------------------------


def daily(misfire: str = "once") -> Schedule:
    return Schedule(
        id="s-abc123",
        report="ping",
        args={},
        rule=Rule(cron="0 9 * * *", tz="America/New_York"),
        channel="C1",
        misfire=misfire,
        created_at=0.0,
        since=local(2026, 3, 1).timestamp(),
    )


def state_for(schedule: Schedule, next_run: datetime) -> RunState:
    return RunState(next_run=next_run.timestamp(), rule_key=schedule.rule.key)


@pytest.mark.unit
def test_a_due_run_fires_for_its_planned_time_and_plans_the_next():
    schedule = daily()
    decision = plan(
        schedule, state_for(schedule, local(2026, 3, 9, 9)), local(2026, 3, 9, 9, 0, 1).timestamp()
    )
    assert decision.fire_at == local(2026, 3, 9, 9).timestamp()
    assert decision.next_run == local(2026, 3, 10, 9).timestamp()


@pytest.mark.unit
def test_a_run_missed_by_less_than_the_grace_runs_once_on_return():
    schedule = daily()
    decision = plan(schedule, state_for(schedule, local(2026, 3, 9, 9)), local(2026, 3, 9, 9, 40).timestamp())
    assert decision.fire_at == local(2026, 3, 9, 9).timestamp()


@pytest.mark.unit
def test_a_run_missed_by_more_than_the_grace_is_skipped_and_the_next_planned():
    schedule = daily()
    decision = plan(schedule, state_for(schedule, local(2026, 3, 9, 9)), local(2026, 3, 9, 11).timestamp())
    assert decision.fire_at is None and decision.skipped == local(2026, 3, 9, 9).timestamp()
    assert decision.next_run == local(2026, 3, 10, 9).timestamp()


@pytest.mark.unit
def test_several_missed_runs_collapse_into_the_latest_once():
    schedule = daily()
    decision = plan(schedule, state_for(schedule, local(2026, 3, 6, 9)), local(2026, 3, 9, 9, 10).timestamp())
    assert decision.fire_at == local(2026, 3, 9, 9).timestamp()


@pytest.mark.unit
def test_misfire_skip_drops_a_late_run_that_once_would_make():
    schedule = daily("skip")
    late = plan(schedule, state_for(schedule, local(2026, 3, 9, 9)), local(2026, 3, 9, 9, 10).timestamp())
    assert late.fire_at is None and late.skipped is not None
    on_time = plan(
        schedule, state_for(schedule, local(2026, 3, 9, 9)), local(2026, 3, 9, 9, 0, 2).timestamp()
    )
    assert on_time.fire_at == local(2026, 3, 9, 9).timestamp()


@pytest.mark.unit
def test_an_interval_schedule_treats_its_interval_as_grace():
    schedule = Schedule(
        id="s-1", report="ping", args={}, rule=Rule(every_seconds=600), channel="C1", since=0.0
    )
    state = RunState(next_run=6000.0, rule_key=schedule.rule.key)
    assert plan(schedule, state, 6300.0).fire_at == 6000.0
    # Down for four ticks: the latest missed one is always less than an interval late, so once.
    back = plan(schedule, state, 8500.0)
    assert back.fire_at == 8400.0 and back.next_run == 9000.0
    skipping = Schedule(**{**schedule.__dict__, "misfire": "skip"})
    assert plan(skipping, state, 8500.0).fire_at is None


@pytest.mark.unit
def test_a_resumed_schedule_does_not_make_up_runs_planned_while_paused():
    schedule = daily()
    stale = state_for(schedule, local(2026, 3, 2, 9))
    resumed = Schedule(**{**schedule.__dict__, "since": local(2026, 3, 9, 12).timestamp()})
    decision = plan(resumed, stale, local(2026, 3, 9, 12, 0, 1).timestamp())
    assert decision.fire_at is None and decision.next_run == local(2026, 3, 10, 9).timestamp()


# -- static schedules -----------------------------------------------------------------------


@pytest.mark.unit
def test_static_schedules_are_read_from_the_reports_file_and_wrong_ones_named(tmp_path):
    file = tmp_path / "reports.toml"
    file.write_text(
        """
[reports.other]
sql = "select 1"

[schedules.daily-sales]
report = "echo"
args = { text = "morning", times = 2 }
cron = "0 9 * * 1-5"
tz = "Europe/Berlin"
channel = "C0SALES"

[schedules.often]
report = "ping"
every = "5m"
channel = "C0OPS"
misfire = "skip"

[schedules.broken]
report = "ping"
cron = "0 9 * *"
channel = "C0OPS"
""",
        encoding="utf-8",
    )
    found, errors = load_static_schedules(file)
    assert [s.id for s in found] == ["daily-sales", "often"]
    assert all(s.static for s in found)
    assert found[0].args == {"text": "morning", "times": "2"} and found[0].rule.tz == "Europe/Berlin"
    assert found[1].rule.every_seconds == 300 and found[1].misfire == "skip"
    assert len(errors) == 1 and "schedules.broken" in errors[0] and "needs 5" in errors[0]


@pytest.mark.unit
def test_a_missing_reports_file_means_no_static_schedules(tmp_path):
    assert load_static_schedules(tmp_path / "absent.toml") == ([], [])


# -- the store, in real Redis ---------------------------------------------------------------


@pytest.fixture
def redis_store(services):
    from tasks.store import RedisStore
    from tests.support import REDIS_PREFIX, REDIS_URL

    return RedisStore(REDIS_URL, prefix=f"{REDIS_PREFIX}unit-{secrets.token_hex(3)}:")


def test_schedules_and_their_run_state_live_in_redis_apart(redis_store):
    schedules = ScheduleStore(redis_store)
    schedule = daily()
    schedules.add(schedule)
    schedules.save_state(
        schedule.id, RunState(next_run=1.0, rule_key=schedule.rule.key, last_job_id="abcd1234")
    )
    again = ScheduleStore(redis_store)  # another process, same Redis
    assert again.get(schedule.id) == schedule
    state = again.state(schedule.id)
    assert state is not None and state.last_job_id == "abcd1234"
    paused = again.set_paused(schedule, True)
    seen = schedules.get(schedule.id)
    assert seen is not None and seen.paused and paused.paused
    assert again.remove(schedule.id)
    assert schedules.get(schedule.id) is None and schedules.state(schedule.id) is None
    assert not again.remove(schedule.id)


def test_a_run_claim_is_taken_once_per_schedule_and_planned_time(redis_store):
    from tasks.schedules.schedule import RUN_CLAIM_TTL, run_claim_key

    key = run_claim_key("s-abc123", 1_773_000_000.0004)
    assert redis_store.claim(key, "job-1", RUN_CLAIM_TTL)
    assert not redis_store.claim(run_claim_key("s-abc123", 1_773_000_000.0), "job-2", RUN_CLAIM_TTL)
    assert redis_store.claim(run_claim_key("s-abc123", 1_773_000_005.0), "job-3", RUN_CLAIM_TTL)


@pytest.mark.unit
def test_a_static_interval_schedule_keeps_its_rhythm_from_the_first_run_on():
    """A static ``every 1d`` (no ``since``) fires a day apart, run after run, not drifting."""
    schedule = Schedule(
        id="nightly", report="ping", args={}, rule=Rule(every_seconds=86400), channel="C1", static=True
    )
    started = datetime(2026, 3, 9, 13, 47, 23, tzinfo=UTC).timestamp()  # beat starts at an odd time
    first = plan(schedule, None, started)
    assert first.fire_at is None and first.next_run is not None
    assert started < first.next_run <= started + 86400
    fired = []
    state = RunState(next_run=first.next_run, rule_key=schedule.rule.key)
    for _ in range(3):
        assert state.next_run is not None
        decision = plan(schedule, state, state.next_run + 1)
        assert decision.fire_at == state.next_run
        fired.append(decision.fire_at)
        state = RunState(next_run=decision.next_run, rule_key=schedule.rule.key)
    assert state.next_run is not None
    gaps = [b - a for a, b in zip([*fired, state.next_run], [*fired, state.next_run][1:], strict=False)]
    assert gaps == [86400.0, 86400.0, 86400.0]
