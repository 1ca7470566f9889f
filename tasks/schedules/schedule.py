"""Schedules: what repeats, by which rule, in which zone, and when it should fire next.

A schedule is a report with arguments, a rule (``every <N>`` seconds or a five-field cron text),
an IANA time zone and a channel. Its definition is written by the bot (``schedule add``) or
declared in the REPORTS_FILE TOML (``[schedules.<id>]``, static); its run state (next planned
run, last run, last job) is written only by beat. Keeping the two apart means a ``schedule
remove`` can never be undone by a beat that read the schedule a moment earlier.

Fire times come from APScheduler 3.x triggers used as a library (no APScheduler scheduler runs):
cron is evaluated in the schedule's own zone, so a daily 09:00 stays 09:00 local across DST. A
wall time skipped by spring-forward fires once, at the instant the clock jumps past it (02:30
becomes 03:30); a wall time repeated by fall-back fires once, on its first occurrence, unless
the hour field is a wildcard (``*``, ``*/2``), where every real hour counts, as in Vixie cron.

Everything here but ``ScheduleStore`` is pure and takes the current time as an argument.

>>> rule = Rule(cron="0 9 * * *", tz="America/New_York")
>>> [t.isoformat() for t in next_runs(rule, datetime(2026, 3, 7, 15, tzinfo=UTC), count=2)]
['2026-03-08T09:00:00-04:00', '2026-03-09T09:00:00-04:00']
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import tomllib
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tasks.errors import UserError
from tasks.slack.mrkdwn import code
from tasks.store import Store

log = logging.getLogger(__name__)

#: Misfire policies: run a missed schedule once on return (if within its grace), or skip it.
MISFIRE_POLICIES = ("once", "skip")
DEFAULT_MISFIRE = "once"
#: How late a missed cron run may be and still run once (``every`` rules use their interval).
CRON_GRACE_SECONDS = 3600
#: Under ``misfire=skip``, a run this late (or less) is still on time, not missed.
ON_TIME_SECONDS = 30
#: How long a per-run claim is kept: longer than any grace, so a run is never made twice.
RUN_CLAIM_TTL = 86400
#: Bound on the fire times walked to find the latest missed one (a week of a per-minute cron).
MAX_WALK = 20_000

#: The longest interval ``every`` accepts; longer rhythms read better as cron.
MAX_EVERY_SECONDS = 366 * 86400

_EVERY = re.compile(r"([0-9]{1,9})([smhd])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday
#: A schedule's id: what people type after ``schedule remove|pause|resume`` and what a schedules
#: file names its tables; ``new_schedule_id``'s ids match it.
SCHEDULE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: The cron rule every refusal and hint shows as an example: 09:00 on weekdays.
CRON_EXAMPLE = "0 9 * * 1-5"


class ScheduleError(UserError):
    """A schedule's rule, zone or options are wrong; the message says what would be right."""


# -- zones and rules ------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ``ScheduleError`` naming it if there is none."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"{code(name)} is not a time zone I know. Use an IANA name such as "
            f"{code('Europe/Berlin')}, {code('America/New_York')} or {code('UTC')}."
        ) from None


def parse_every(text: str | int) -> int:
    """``"5m"`` (or a number of seconds) as seconds, at most ``MAX_EVERY_SECONDS``.

    The one reading of an interval: the TOML ``every`` key and ``schedule add … every``.
    """
    seconds = 0
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    elif isinstance(text, str):
        match = _EVERY.fullmatch(text.strip())
        if match:
            seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if 0 < seconds <= MAX_EVERY_SECONDS:
        return seconds
    raise ScheduleError(
        f"{code(str(text))} is not an interval; use a whole number above 0 with s, m, h or d, "
        f"at most {code(describe_seconds(MAX_EVERY_SECONDS))}, like {code('5m')}."
    )


def _crontab_weekdays(field_text: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) in APScheduler 3.x's terms (names).

    APScheduler 3.x numbers weekdays from Monday (its issue 286), so ``1-5`` would silently mean
    Tuesday to Saturday; names mean the same in both, so numbers are turned into names.
    """
    if field_text == "*" or not re.search(r"[0-9]", field_text):
        return field_text
    days: set[int] = set()
    for item in field_text.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in {item!r}")
        if part == "*":
            start, end = 0, 6
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _weekday_number(a), _weekday_number(b)
            if end == 0 and b.strip() == "7":
                end = 7
        else:
            start = end = _weekday_number(part)
            if step is not None:
                end = 6
        if end < start:
            raise ValueError(f"range {part!r} runs backwards")
        days.update(d % 7 for d in range(start, end + 1, step or 1))
    ordered = sorted(days, key=lambda d: (d - 1) % 7)  # Monday first, as APScheduler counts
    return ",".join(_DOW_NAMES[d] for d in ordered)


def _weekday_number(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7 if int(text) != 7 else 0
    if text[:3] in _DOW_NAMES:
        return _DOW_NAMES.index(text[:3])
    raise ValueError(f"{text!r} is not a day of the week")


@dataclass(frozen=True)
class Rule:
    """When a schedule fires: exactly one of ``every_seconds`` and ``cron``, in zone ``tz``."""

    every_seconds: int | None = None
    cron: str | None = None
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    @property
    def grace(self) -> float:
        """How late a missed run may be and still run once on return."""
        return float(self.every_seconds) if self.every_seconds else float(CRON_GRACE_SECONDS)

    @property
    def key(self) -> str:
        """A fingerprint of the rule: beat recomputes the next run when it changes."""
        return f"every {self.every_seconds}" if self.every_seconds else f"cron {self.cron} {self.tz}"

    def describe(self) -> str:
        """How a person would type the rule: ``every 5m`` or ``cron "0 9 * * 1-5"``."""
        if self.every_seconds:
            return f"every {describe_seconds(self.every_seconds)}"
        return f'cron "{self.cron}"'

    def trigger(self, anchor: float = 0.0) -> Any:
        """The APScheduler trigger; ``every`` counts from ``anchor`` (a UNIX time)."""
        if self.every_seconds:
            from apscheduler.triggers.interval import IntervalTrigger

            start = datetime.fromtimestamp(anchor, tz=UTC)
            return IntervalTrigger(seconds=self.every_seconds, start_date=start, timezone=UTC)
        return cron_trigger(self.cron or "", self.tz)

    @property
    def wildcard_hours(self) -> bool:
        """True when the cron hour is ``*`` or ``*/n``: then each real hour of fall-back counts."""
        if not self.cron:
            return True
        hour = self.cron.split()[1]
        return hour == "*" or hour.startswith("*/")


def describe_seconds(seconds: int) -> str:
    """``300`` → ``5m``: the largest unit that divides it, as ``every`` is typed."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cron_trigger(expr: str, tz: str) -> Any:
    """A validated CronTrigger for five-field crontab text in zone ``tz``, else ScheduleError."""
    from apscheduler.triggers.cron import CronTrigger

    where = zone(tz)
    fields = expr.split()
    shown = code(expr)
    if len(fields) != 5:
        raise ScheduleError(
            f"The cron rule {shown} has {len(fields)} fields; it needs 5 (minute, hour, day of month, "
            f"month, day of week), like {code(CRON_EXAMPLE)}."
        )
    minute, hour, day, month, weekday = fields
    try:
        weekdays = _crontab_weekdays(weekday)
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=weekdays.replace("?", "*"),
            timezone=where,
        )
    except (ValueError, TypeError) as exc:
        detail = str(exc).rstrip(".")
        raise ScheduleError(
            f"The cron rule {shown} is not valid ({code(detail)}). Five fields: minute (0-59), hour "
            f"(0-23), day of month (1-31), month (1-12), day of week (0-6, 0 = Sunday), for example "
            f"{code(CRON_EXAMPLE)} for 09:00 on weekdays."
        ) from None
    if day not in ("*", "?") and weekday not in ("*", "?"):
        # Cron fires when either matches; APScheduler only when both do. Refuse, not guess.
        raise ScheduleError(
            f"The cron rule {shown} limits both the day of the month and the day of the week; cron "
            "reads that as either, which surprises people. Make two schedules, one for each, "
            f"for example {code('0 9 1 * *')} and {code('0 9 * * 1')}."
        )
    return trigger


# -- fire times ----------------------------------------------------------------------------


def _is_repeat(moment: datetime) -> bool:
    """True for the second occurrence of a wall time that fall-back repeats."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def next_fire(rule: Rule, after: datetime, anchor: float = 0.0, trigger: Any = None) -> datetime | None:
    """The first fire time strictly after ``after``, in the rule's zone (None: never again)."""
    trigger = trigger or rule.trigger(anchor)
    where = rule.zone
    moment = after.astimezone(UTC)
    for _ in range(8):  # a skipped or repeated wall time costs one more step; never many
        candidate = trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))
        if candidate is None:
            return None
        # Normalise through UTC: a nonexistent wall time becomes the instant the clock jumped to.
        local = candidate.astimezone(UTC).astimezone(where)
        if local.astimezone(UTC) <= after.astimezone(UTC):
            moment = max(moment, candidate.astimezone(UTC)) + timedelta(seconds=1)
            continue
        if rule.cron and not rule.wildcard_hours and _is_repeat(local):
            moment = local.astimezone(UTC)
            continue
        return local
    return None


def next_runs(rule: Rule, after: datetime, anchor: float = 0.0, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times after ``after``, in the rule's zone (for previews)."""
    trigger = rule.trigger(anchor)
    runs: list[datetime] = []
    moment = after
    while len(runs) < count:
        found = next_fire(rule, moment, anchor, trigger)
        if found is None:
            break
        runs.append(found)
        moment = found
    return runs


def shortest_gap(rule: Rule, after: datetime, samples: int = 24) -> float:
    """The shortest time between consecutive runs over the next ``samples`` runs, in seconds."""
    if rule.every_seconds:
        return float(rule.every_seconds)
    runs = next_runs(rule, after, count=samples)
    gaps = [(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
    return min(gaps) if gaps else float("inf")


def validate_rule(rule: Rule, min_interval: int, now: datetime) -> list[datetime]:
    """Check zone, rule and rhythm; return the next three runs. ScheduleError says what's wrong."""
    zone(rule.tz)
    if rule.every_seconds is not None and rule.every_seconds < min_interval:
        raise ScheduleError(
            f"{code(rule.describe())} is too often: schedules may repeat at most every "
            f"{code(describe_seconds(min_interval))} here. Try {code('every ' + describe_seconds(max(min_interval, 3600)))}."
        )
    if rule.cron is not None:
        rule.trigger()  # raises ScheduleError for bad text
        gap = shortest_gap(rule, now)
        if gap < min_interval:
            raise ScheduleError(
                f"{code(rule.describe())} runs every {describe_seconds(int(gap))} at times; schedules may "
                f"repeat at most every {code(describe_seconds(min_interval))} here."
            )
    runs = next_runs(rule, now, anchor=now.timestamp())
    if not runs:
        raise ScheduleError(
            f"{code(rule.describe())} never fires. Check the day and month, like {code(CRON_EXAMPLE)}."
        )
    return runs


# -- schedules and their run state ---------------------------------------------------------


def new_schedule_id() -> str:
    """``s-3f9c2a``: short to type in ``schedule remove``, random enough per workspace."""
    return "s-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Schedule:
    """A report that repeats: what to run, by which rule, for whom and where."""

    id: str
    report: str
    args: dict[str, str]
    rule: Rule
    channel: str
    user: str = ""
    misfire: str = DEFAULT_MISFIRE
    created_at: float = field(default_factory=time.time)
    #: Runs are planned only after this time: creation, or the last ``resume``.
    since: float | None = None
    paused: bool = False
    static: bool = False
    #: Why it paused itself (failures in a row, its channel archived, the app's access lost),
    #: in words for people; "" when a person paused it, or it runs.
    paused_reason: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Schedule:
        """A stored schedule; records written before a field existed get its default, and a
        field this code does not know (written by a newer process) is left out."""
        data = json.loads(raw)
        data["rule"] = Rule(**data["rule"])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class RunState:
    """What beat knows of a schedule's runs: next planned, last made, and its job."""

    next_run: float | None = None
    rule_key: str = ""
    last_run: float | None = None
    last_job_id: str = ""
    last_skipped: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> RunState:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Plan:
    """What to do for one schedule now: fire for ``fire_at`` (planned time) or not, and then wait."""

    fire_at: float | None
    next_run: float | None
    skipped: float | None = None


def interval_anchor(schedule: Schedule) -> float:
    """Where an ``every`` rule counts from: ``since`` (creation/resume), else the UNIX epoch.

    Static schedules have no ``since``; counting from the epoch (not from when beat started)
    keeps their first and later runs on one rhythm, and gives every beat the same planned times.
    """
    return schedule.since if schedule.since is not None else 0.0


def first_run(schedule: Schedule, now: float) -> float | None:
    """The first planned run: after ``since`` (creation/resume), or after now for static ones."""
    start = schedule.since if schedule.since is not None else now
    found = next_fire(schedule.rule, datetime.fromtimestamp(start, tz=UTC), anchor=interval_anchor(schedule))
    return found.timestamp() if found else None


def plan(schedule: Schedule, state: RunState | None, now: float) -> Plan:
    """Decide, at ``now``, whether ``schedule`` fires and for which planned time.

    Missed runs (beat down across one or more planned times) collapse into the latest of them;
    with ``misfire=once`` it runs if less than the rule's grace late, with ``skip`` only if
    about on time. Either way the next run is the first planned time after now.
    """
    rule = schedule.rule
    anchor = interval_anchor(schedule)
    if (
        state is None
        or state.next_run is None
        or state.rule_key != rule.key
        or (schedule.since is not None and state.next_run < schedule.since)
    ):
        planned = first_run(schedule, now)
    else:
        planned = state.next_run
    if planned is None or planned > now:
        return Plan(fire_at=None, next_run=planned)
    trigger = rule.trigger(anchor)
    latest = planned
    upcoming = next_fire(rule, datetime.fromtimestamp(latest, tz=UTC), anchor, trigger)
    steps = 0
    while upcoming is not None and upcoming.timestamp() <= now and steps < MAX_WALK:
        latest = upcoming.timestamp()
        upcoming = next_fire(rule, upcoming, anchor, trigger)
        steps += 1
    next_run = upcoming.timestamp() if upcoming is not None else None
    late = now - latest
    allowed = rule.grace if schedule.misfire == "once" else min(rule.grace, ON_TIME_SECONDS)
    if steps >= MAX_WALK or late > allowed:
        return Plan(fire_at=None, next_run=next_run, skipped=latest)
    return Plan(fire_at=latest, next_run=next_run)


def failures_key(schedule_id: str) -> str:
    """The count of a schedule's failed runs in a row (`tasks.schedules.self_pause`)."""
    return f"schedule:{schedule_id}:failures"


def run_claim_key(schedule_id: str, planned: float) -> str:
    """The idempotency key of one run: schedule id and planned fire time (whole seconds)."""
    return f"schedule:{schedule_id}:run:{int(round(planned))}"


class ScheduleStore:
    """Schedules in the store: definitions in one hash, beat's run state in another."""

    DEFINITIONS = "schedules"
    STATES = "schedule-runs"

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, schedule: Schedule) -> None:
        self.store.hset(self.DEFINITIONS, schedule.id, schedule.to_json())

    def get(self, schedule_id: str) -> Schedule | None:
        raw = self.store.hget(self.DEFINITIONS, schedule_id)
        return Schedule.from_json(raw) if raw else None

    def all(self) -> list[Schedule]:
        found = []
        for key, raw in self.store.hgetall(self.DEFINITIONS).items():
            try:
                found.append(Schedule.from_json(raw))
            except (ValueError, TypeError, KeyError):
                log.warning("schedule %s is unreadable; ignored", key)
        return sorted(found, key=lambda s: s.created_at)

    def remove(self, schedule_id: str) -> bool:
        removed = self.store.hdel(self.DEFINITIONS, schedule_id)
        self.store.hdel(self.STATES, schedule_id)
        self.store.delete(failures_key(schedule_id))
        return removed

    def set_paused(
        self, schedule: Schedule, paused: bool, now: float | None = None, reason: str = ""
    ) -> Schedule:
        """Pause (with the `reason` it paused itself, if it did), or resume from now on: runs
        planned while paused are not made up, and a resumed schedule has no reason left and
        counts its failures in a row from zero again."""
        changed = replace(
            schedule,
            paused=paused,
            since=schedule.since if paused else (now or time.time()),
            paused_reason=reason if paused else "",
        )
        self.add(changed)
        if not paused:
            self.store.delete(failures_key(schedule.id))
        return changed

    def redefine(self, schedule: Schedule, now: float | None = None) -> Schedule:
        """Replace a schedule's definition (same id) and re-plan its runs from now on, as
        `set_paused` does on resume: a changed rule never fires for a time planned by the old one.

        ScheduleError if it was removed meanwhile: an edit does not bring a schedule back.
        """
        if self.get(schedule.id) is None:
            raise ScheduleError(f"Schedule {code(schedule.id)} was removed meanwhile; nothing was changed.")
        changed = replace(schedule, since=now or time.time())
        self.add(changed)
        self.forget_state(schedule.id)
        return changed

    def state(self, schedule_id: str) -> RunState | None:
        raw = self.store.hget(self.STATES, schedule_id)
        return RunState.from_json(raw) if raw else None

    def states(self) -> dict[str, RunState]:
        return {k: RunState.from_json(v) for k, v in self.store.hgetall(self.STATES).items()}

    def save_state(self, schedule_id: str, state: RunState) -> None:
        self.store.hset(self.STATES, schedule_id, state.to_json())

    def forget_state(self, schedule_id: str) -> None:
        self.store.hdel(self.STATES, schedule_id)


class ScheduleLimits:
    """How many schedules one person, and one channel, may have (0: no limit; `exempt` users,
    the admins, have none). The count and the add happen under a short lock on the person and
    another on the channel, so a burst of adds from any number of bot processes cannot overshoot.
    """

    LOCK_TTL = 10.0
    #: How long an add waits for another add of the same person or channel to finish; within
    #: Slack's 3 s for the ack, with room for the users.info call before it.
    LOCK_WAIT = 1.0

    def __init__(
        self,
        schedules: ScheduleStore,
        *,
        per_user: int,
        per_channel: int,
        exempt: Container[str] = (),
        command: str = "/run-report",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.schedules = schedules
        self.per_user = per_user
        self.per_channel = per_channel
        self.exempt = exempt
        self.command = command
        self.sleep = sleep

    @contextmanager
    def room_for(self, user: str, channel: str, replacing: str = "") -> Iterator[None]:
        """Run the block (the add) only if `user` and `channel` are under their limits; else
        ScheduleError saying which limit and what to do. `replacing` is the id of a schedule the
        block redefines (an edit): it is not counted, since it makes no new schedule."""
        if user in self.exempt or not (self.per_user or self.per_channel):
            yield
            return
        holder = secrets.token_hex(8)
        held: list[str] = []
        try:
            for key in (f"schedule-limit:user:{user}", f"schedule-limit:channel:{channel}"):
                self._acquire(key, holder)
                held.append(key)
            self._check(user, channel, replacing)
            yield
        finally:
            for key in held:
                self.schedules.store.release(key, holder)

    def _acquire(self, key: str, holder: str) -> None:
        waited = 0.0
        while not self.schedules.store.claim(key, holder, self.LOCK_TTL):
            if waited >= self.LOCK_WAIT:
                raise ScheduleError(
                    "Schedules are being added here by someone else at this very moment; "
                    "please try again in a few seconds."
                )
            self.sleep(0.02)
            waited += 0.02

    def _check(self, user: str, channel: str, replacing: str = "") -> None:
        made = [s for s in self.schedules.all() if s.id != replacing]
        listing = code(f"{self.command} schedule list")
        remove = code(f"{self.command} schedule remove <id>")
        mine = sum(1 for s in made if s.user == user)
        if self.per_user and mine >= self.per_user:
            raise ScheduleError(
                f"You have {mine} schedules already, the most one person may have here. "
                f"Remove one you no longer need with {remove} ({listing} in its channel shows "
                "them), or ask an admin to add this one."
            )
        here = sum(1 for s in made if s.channel == channel)
        if self.per_channel and here >= self.per_channel:
            raise ScheduleError(
                f"This channel has {here} schedules already, the most one channel may have here. "
                f"Remove one it no longer needs with {remove} ({listing} shows them), or add "
                "this one in another channel."
            )


# -- static schedules from the REPORTS_FILE -------------------------------------------------


def load_static_schedules(path: str | Path) -> tuple[list[Schedule], list[str]]:
    """The ``[schedules.<id>]`` tables of the TOML file, and a line per table that is wrong.

    A missing file means none. Reports are not checked here (the caller has the registry).
    """
    file = Path(path)
    if not file.is_file():
        return [], []
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [], [f"{file}: cannot read it ({exc})"]
    tables = data.get("schedules") or {}
    if not isinstance(tables, dict):
        return [], [f"{file}: [schedules] must be a table of tables"]
    schedules: list[Schedule] = []
    errors: list[str] = []
    for schedule_id, table in tables.items():
        try:
            schedules.append(_static_schedule(str(schedule_id), table))
        except (ScheduleError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, ScheduleError) else str(exc)
            errors.append(f"{file}: [schedules.{schedule_id}]: {message}")
    return schedules, errors


def _static_schedule(schedule_id: str, table: Any) -> Schedule:
    if not isinstance(table, dict):
        raise ValueError("must be a table")
    if not SCHEDULE_ID.fullmatch(schedule_id):
        raise ValueError("the id must be letters, digits, '-' or '_'")
    unknown = set(table) - {"report", "args", "every", "cron", "tz", "channel", "misfire"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    for needed in ("report", "channel"):
        if not isinstance(table.get(needed), str) or not table[needed]:
            raise ValueError(f"{needed} is required (text)")
    if ("every" in table) == ("cron" in table):
        raise ValueError("give exactly one of every and cron")
    tz = str(table.get("tz") or "UTC")
    rule = (
        Rule(every_seconds=parse_every(table["every"]), tz=tz)
        if "every" in table
        else Rule(cron=" ".join(str(table["cron"]).split()), tz=tz)
    )
    rule.trigger()
    misfire = str(table.get("misfire") or DEFAULT_MISFIRE).lower()
    if misfire not in MISFIRE_POLICIES:
        raise ValueError("misfire must be once or skip")
    args = table.get("args") or {}
    if not isinstance(args, dict):
        raise ValueError("args must be a table of key = value")
    return Schedule(
        id=schedule_id,
        report=table["report"],
        args={str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in args.items()},
        rule=rule,
        channel=table["channel"],
        misfire=misfire,
        created_at=0.0,
        since=None,
        static=True,
    )


class StaticSchedules:
    """The REPORTS_FILE's schedules whose report exists, re-read only when the file changes.

    Beat and the bot both use this, so they see the same static schedules: wrong tables and
    unknown reports are logged once per change of the file, not on every tick or command.
    """

    def __init__(self, path: str | Path, registry: Container[str]) -> None:
        self.path = Path(path)
        self.registry = registry
        # (mtime the list was read at, the list): one attribute, so a thread never sees a mix.
        self._cache: tuple[float | None, list[Schedule]] = (-1.0, [])

    def current(self) -> list[Schedule]:
        """The static schedules as the file is now (a missing file means none)."""
        try:
            mtime: float | None = self.path.stat().st_mtime
        except OSError:
            mtime = None
        cached_mtime, cached = self._cache
        if mtime == cached_mtime:
            return cached
        found, errors = load_static_schedules(self.path)
        for error in errors:
            log.error("static schedules: %s", error)
        for s in found:
            if s.report not in self.registry:
                log.error("static schedule %s names no known report %r; ignored", s.id, s.report)
        known = [s for s in found if s.report in self.registry]
        self._cache = (mtime, known)
        return known


def all_schedules(schedules: ScheduleStore, static: Iterable[Schedule]) -> list[Schedule]:
    """Static ones first, then those made from Slack; a Slack one never shadows a static id."""
    static = list(static)
    taken = {s.id for s in static}
    return static + [s for s in schedules.all() if s.id not in taken]
