"""The next runs of a rule as a form previews them, each with a note when a clock change touches it.

A person choosing "02:30 every day" in Europe/Paris should learn before saving that on the last
Sunday of March 02:30 does not exist (the run happens at 03:30, when the clock has jumped), and
that on the last Sunday of October it happens twice (the run is made once, at the first). A rule
counted in real time (``every 6h``) keeps its rhythm across a change, so its runs move by an hour
on the clock. The notes are worked out from the rule and the fire times alone, so they agree
with what beat will do (`next_runs` is beat's own computation).

>>> from datetime import UTC, datetime
>>> from tasks.schedules.schedule import Rule
>>> runs = preview_runs(Rule(cron="30 2 * * *", tz="Europe/Paris"), datetime(2027, 3, 27, 12, tzinfo=UTC), 60)
>>> [(run.at.strftime("%m-%d %H:%M"), bool(run.note)) for run in runs]
[('03-28 03:30', True), ('03-29 02:30', False), ('03-30 02:30', False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from tasks.schedules.schedule import Rule, validate_rule

__all__ = ["PreviewRun", "dst_note", "preview_runs"]

_FIXED = re.compile(r"[0-9]{1,2}")


@dataclass(frozen=True)
class PreviewRun:
    """One coming run, in the rule's zone, and what a clock change does to it ("" if nothing)."""

    at: datetime
    note: str = ""


def preview_runs(rule: Rule, now: datetime, min_interval: int, count: int = 3) -> list[PreviewRun]:
    """The next `count` runs of `rule` after `now`, as `schedule add` checks and plans them.

    Raises `ScheduleError` (its message says why in words) for a rule `schedule add` refuses.
    `every` rules count from `now`, as a schedule made now would.
    """
    runs = validate_rule(rule, min_interval, now)[:count]
    previous = now.astimezone(rule.zone)
    shown = []
    for run in runs:
        shown.append(PreviewRun(run, dst_note(rule, run, previous)))
        previous = run
    return shown


def dst_note(rule: Rule, run: datetime, previous: datetime) -> str:
    """Plain words for how a daylight-saving change moves, skips or repeats `run`; "" if none.

    `previous` is the run before it (or now): a clock change between the two is what moves a
    rule counted in real time.
    """
    when = run.strftime("%a %d %b")
    fixed = _fixed_wall_time(rule)
    if fixed is not None:
        hour, minute = fixed
        intended = f"{hour:02d}:{minute:02d}"
        if (run.hour, run.minute) != fixed:
            return (
                f"{intended} does not exist on {when} (the clocks go forward), "
                f"so this run happens at {run:%H:%M}."
            )
        if _ambiguous(run):
            return f"{intended} happens twice on {when} (the clocks go back); it runs once, at the first."
        return ""
    before, after = previous.utcoffset(), run.utcoffset()
    if before is None or after is None or before == after:
        return ""
    shift = abs(after - before)
    change = "forward" if after > before else "back"
    if rule.every_seconds:
        return (
            f"The clocks go {change} before this run ({previous:%Z} to {run:%Z}); runs keep their "
            f"rhythm in real time, so on the clock this one moves by {_duration(shift)}."
        )
    return (
        f"The clocks go {change} before this run ({previous:%Z} to {run:%Z}): "
        f"that day has {_duration(timedelta(hours=24) + (before - after))}."
    )


def _fixed_wall_time(rule: Rule) -> tuple[int, int] | None:
    """(hour, minute) when a cron rule names one time of day, like ``30 2 * * *``; else None."""
    if not rule.cron:
        return None
    fields = rule.cron.split()
    if len(fields) != 5 or not (_FIXED.fullmatch(fields[0]) and _FIXED.fullmatch(fields[1])):
        return None
    return int(fields[1]), int(fields[0])


def _ambiguous(moment: datetime) -> bool:
    """True when the wall time of `moment` happens twice in its zone (a fall-back hour)."""
    return moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset()


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return f"{hours} hour" + ("" if hours == 1 else "s")
    return f"{hours}h{rest:02d}"
