"""Reports for the digest tests: one with nothing new to say."""

from __future__ import annotations

from tasks.reports import Skip, report


@report("quiet", help="Has nothing new to say")
def quiet() -> Skip:
    return Skip("no new orders")
