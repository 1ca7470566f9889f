"""Reports the fault-injection tests load through REPORT_MODULES (with tests.sample_reports)."""

from __future__ import annotations

import os
import time

from tasks.reports import report

FINANCE_CHANNEL = "C0FIN"
FINANCE_BOSS = "U0BOSS"
FINANCE_GROUP = "S0FIN"


@report("dawdle", help="Takes its time, long enough to kill a worker under it", time_limit=60)
def dawdle(seconds: float = 3.0) -> str:
    time.sleep(seconds)
    return f"done after {seconds:g} s"


@report("huge", help="A result far over Slack's limits")
def huge(lines: int = 4000, width: int = 99) -> str:
    return "\n".join(f"{i:05d} " + "x" * width for i in range(lines))


@report(
    "finance",
    help="Only for finance, in #finance",
    channels=FINANCE_CHANNEL,
    users=FINANCE_BOSS,
    groups=FINANCE_GROUP,
)
def finance() -> str:
    return "revenue: 42"


@report("leaky", help="A careless report that puts the bot token in its error")
def leaky() -> str:
    raise RuntimeError(f"could not log in with {os.environ.get('SLACK_BOT_TOKEN', '')}")


@report(
    "marathon", help="Asks for a time limit longer than RabbitMQ would hold its delivery", time_limit=100_000
)
def marathon() -> str:
    return "finished"
