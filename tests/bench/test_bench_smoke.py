"""`python -m bench --quick` runs the whole bench at tiny sizes and prints every row of its table.

Not a speed test (figures live in bench/README.md): it keeps the bench runnable as the code
changes, against the real RabbitMQ and Redis, with the fake Slack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "| ack p50, ms",
    "| ack p99, ms",
    "| ack p50, ms, floor configured as ours (process_before_response)",
    "| ack p50, ms, while 1 worker runs the burst",
    "| ack p99, ms, while 1 worker runs the burst",
    "| idle e2e p50, ms",
    "| idle e2e p99, ms",
    "| burst e2e p50, ms (1 worker)",
    "| burst e2e p99, ms (1 worker)",
    "| throughput, jobs/s (1 worker)",
    "| throughput, jobs/s (2 workers)",
    "| CPU per job, ms, bench (fake Slack, senders) (1 worker burst)",
    "| CPU per job, ms, bot (1 worker burst)",
    "| CPU per job, ms, workers (1 worker burst)",
    "| CPU per job, ms, RabbitMQ (1 worker burst)",
    "| CPU per job, ms, Redis (1 worker burst)",
    "| CPU per job, ms, total (1 worker burst)",
    "| idle e2e p50, ms, Slack over TLS",
    "| idle e2e p99, ms, Slack over TLS",
    "| burst e2e p50, ms (1 worker), Slack over TLS",
    "| burst e2e p99, ms (1 worker), Slack over TLS",
    "| throughput, jobs/s (1 worker), Slack over TLS",
    "| CPU per job, ms, bench (fake Slack, senders) (1 worker burst, Slack over TLS)",
    "| CPU per job, ms, workers (1 worker burst, Slack over TLS)",
    "| CPU per job, ms, total (1 worker burst, Slack over TLS)",
    "| digest to 6 channels, s (1 msg/s/channel, burst 1)",
    "| digest CPU per job, ms, workers' main / pool processes (burst 1)",
    "| digest to 6 channels, s (1 msg/s/channel, burst 3)",
    "| commands' jobs to 6 channels, s (1 msg/s/channel, burst 1), status message + result in its thread",
    "| RSS at rest, MiB",
    "| RSS after burst, MiB",
)


def test_quick_bench_prints_the_table_with_every_row() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--digest-channels", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for row in ROWS:
        assert row in out, f"missing row {row!r} in:\n{out}"
    assert "nproc:" in out and "rabbitmq:" in out and "load (1/5/15 min)" in out
    assert "classic queues: v2, by policy" in out  # the storage deploy/ sets up
    # every figure was measured: no row is left without a number
    table = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(table) == len(ROWS) and not any("n/a" in line for line in table), out
    assert "0 lost, 0 dup" in out, out


def test_digest_only_runs_the_digest_phase_alone() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--digest-channels", "4", "--digest-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = [line for line in run.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0] for line in table] == [
        "| digest to 4 channels, s (1 msg/s/channel, burst 1)",
        "| digest CPU per job, ms, workers' main / pool processes (burst 1)",
        "| digest to 4 channels, s (1 msg/s/channel, burst 3)",
        "| commands' jobs to 4 channels, s (1 msg/s/channel, burst 1), status message + result in its thread",
    ], run.stdout
    assert not any("n/a" in line or "nan" in line for line in table), run.stdout
    assert "0 lost, 0 dup" in table[0], run.stdout
