"""Stopping things in `python run.py`'s local mode, as a user does: Cancel on a running report's
status message stops the report (its worker is a pool of threads in that one process), and
Ctrl-C while a report runs says what it waits for, and a second Ctrl-C quits at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.rendering.messages import CANCEL_ACTION
from tests.e2e.sandbox_process import SandboxProcess, run_sandbox, wait_for_state
from tests.support import wait_until

REPORTS = "tests.local_mode_reports"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    with run_sandbox(tmp_path, REPORT_MODULES=REPORTS) as proc:
        yield proc


def channel_messages(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return next(c for c in snapshot["channels"] if c["id"] == "C0SANDBOX")["messages"]


def ticks(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def start_ticking(sandbox: SandboxProcess, marker: Path) -> None:
    """Run the ticking report and wait until it writes."""
    answer = sandbox.post_json("/sandbox/command", {"text": f"/run-report ticking path={marker} seconds=30"})
    assert answer["ok"], answer
    wait_until(lambda: ticks(marker) > 0, 20, what="the report to start writing")


def cancel_button(snapshot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The running job's status message and its Cancel button, once it is posted."""
    for message in channel_messages(snapshot):
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("action_id") == CANCEL_ACTION:
                    return message, {**element, "block_id": block.get("block_id", "")}
    return None


def interrupt_and_wait(sandbox: SandboxProcess, within: float) -> float:
    started = time.monotonic()
    os.kill(sandbox.popen.pid, signal.SIGINT)
    sandbox.popen.wait(within)
    return time.monotonic() - started


def test_cancel_stops_the_running_report_and_ctrl_c_then_exits_at_once(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "ticks"
    start_ticking(sandbox, marker)
    message, button = wait_for_state(sandbox, cancel_button, what="the Cancel button")
    answer = sandbox.post_json(
        "/sandbox/action",
        {
            "message_ts": message["ts"],
            "action_id": CANCEL_ACTION,
            "block_id": button["block_id"],
            "value": button["value"],
            "label": "Cancel",
        },
    )
    assert answer["ok"], answer

    # The report stops writing within a second or two of the click.
    time.sleep(1.5)
    stopped_at = ticks(marker)
    time.sleep(1.0)
    assert ticks(marker) == stopped_at, "the report still runs after Cancel"

    def cancelled(snapshot: dict[str, Any]) -> bool:
        return any(
            m["ts"] == message["ts"]
            and "cancelled" in m["text"].lower()
            and "running" not in m["text"].lower()
            for m in channel_messages(snapshot)
        )

    wait_for_state(sandbox, cancelled, timeout=5, what="the status message to say cancelled")
    sandbox.post_json("/sandbox/command", {"text": f"/run-report status {button['value']}"})
    answer_text = [
        m for m in channel_messages(sandbox.get_json("/sandbox/state")) if m["kind"] == "ephemeral"
    ][-1]
    assert "cancelled" in answer_text["text"].lower(), answer_text
    assert interrupt_and_wait(sandbox, within=5) < 3, sandbox.output()
    output = sandbox.output()
    assert "Traceback" not in output and "NotImplementedError" not in output, output
    assert ticks(marker) == stopped_at


def test_ctrl_c_during_a_report_says_what_it_waits_for_and_a_second_quits_at_once(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "ticks"
    start_ticking(sandbox, marker)
    os.kill(sandbox.popen.pid, signal.SIGINT)
    stderr = sandbox.stderr_path
    wait_until(lambda: "Ctrl-C again" in stderr.read_text(), 5, what="the line saying what Ctrl-C waits for")
    lines = [line for line in stderr.read_text().splitlines() if "waiting for" in line]
    assert len(lines) == 1, sandbox.output()
    assert "1 running job" in lines[0] and "at most" in lines[0], lines[0]
    assert sandbox.popen.poll() is None, "the first Ctrl-C waits for the report"

    assert interrupt_and_wait(sandbox, within=5) < 1.5, sandbox.output()
    assert "Traceback" not in sandbox.output(), sandbox.output()
