"""Reports the tests load through REPORT_MODULES, as a team would load its own."""

from __future__ import annotations

import os
import time
from datetime import date
from typing import Literal

from tasks.reports import report


@report("echo", help="Say the text back")
def echo(text: str = "hello", times: int = 1) -> str:
    return " ".join([text] * times)


@report("typed", help="Show how arguments were converted")
def typed(day: date, ratio: float = 0.5, loud: bool = False, kind: Literal["bar", "line"] = "bar") -> str:
    return f"day={day.isoformat()} ratio={ratio} loud={loud} kind={kind}"


@report("boom", help="Always fails")
def boom() -> str:
    raise RuntimeError("the warehouse is on fire")


@report("sleepy", help="Sleeps", time_limit=2)
def sleepy(seconds: float = 10.0) -> str:
    time.sleep(seconds)
    return "woke up"


@report("slow", help="Sleeps, under a long time limit (for cancelling a running job)", time_limit=30)
def slow(seconds: float = 20.0) -> str:
    time.sleep(seconds)
    return "finally done"


@report("tally", help="Counts its own runs in a file (tests: a report must not run twice)")
def tally(path: str, seconds: float = 0.0) -> str:
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write("ran\n")
    return "counted"


LOADED_IN = os.getpid()


@report("whereami", help="Which process loaded the reports, and which one ran this")
def whereami() -> str:
    return f"loaded in {LOADED_IN}, ran in {os.getpid()}"


@report("big", help="A text of about `chars` characters in lines of `width`")
def big(chars: int = 2_000_000, width: int = 80) -> str:
    line = "x" * (width - 1) + "\n"
    return line * (chars // width)


@report("kinds", help="One argument of every kind (the report form's tests)")
def kinds(
    since: date,
    title: str = "Weekly",
    count: int = 3,
    ratio: float = 0.5,
    loud: bool = False,
    shape: Literal["bar", "line"] = "bar",
) -> str:
    return f"since={since.isoformat()} title={title} count={count} ratio={ratio} loud={loud} shape={shape}"


@report("vault", help="Only U0BOSS may run it (access tests)", users="U0BOSS")
def vault() -> str:
    return "the vault is open"
