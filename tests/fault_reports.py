"""Reports the fault-injection tests load through REPORT_MODULES (with tests.sample_reports)."""

from __future__ import annotations

import os
import signal
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


@report("leaky-db", help="Fails with a database URL, an AWS key and a Slack token in its error")
def leaky_db() -> str:
    raise RuntimeError(
        "db login failed: postgresql://admin:Hunter2@db.internal/prod AKIAIOSFODNN7EXAMPLE token=xoxp-1234-abcd"
    )


@report("stubborn", help="Swallows its soft time limit, so only the hard one stops it", time_limit=1)
def stubborn() -> str:
    while True:
        try:
            time.sleep(0.1)
        except BaseException:  # noqa: S110  # the careless report this test needs
            pass


@report("doomed", help="Its pool process dies under it every time, as an out-of-memory kill would")
def doomed(seconds: float = 1.0) -> str:
    time.sleep(seconds)  # long enough for its "running" status message
    os.kill(os.getpid(), signal.SIGKILL)
    return "never"


@report("leaky-keys", help="Fails with a Bearer token, a JSON password and a private key in its error")
def leaky_keys() -> str:
    raise ValueError(
        'upstream said 401 to "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"'
        ' with {"user": "etl", "password": "s3cr3t-Pa55"} and key -----BEGIN RSA PRIVATE KEY-----\n'
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----"
    )
