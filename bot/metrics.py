"""The bot's Prometheus metrics, served at /metrics on its HTTP port."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACK_SECONDS = Histogram(
    "reportbot_ack_seconds",
    "Time from a slash command reaching the listener to its ack",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
COMMANDS = Counter("reportbot_commands_total", "Slash commands by kind and outcome", ["kind", "outcome"])
DISPATCH_FAILURES = Counter(
    "reportbot_dispatch_failures_total", "Jobs that could not be published to the broker"
)
