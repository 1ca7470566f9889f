"""A report for the local-mode tests: it shows whether it still runs by writing to a file."""

from __future__ import annotations

import time

from tasks.reports import report


@report("ticking", help="Writes a line to a file every 50 ms until it has run for `seconds`", time_limit=30)
def ticking(path: str, seconds: float = 20.0) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(path, "a") as f:
            f.write("tick\n")
        time.sleep(0.05)
    return "ticked to the end"
