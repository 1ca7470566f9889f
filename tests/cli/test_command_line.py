"""`python run.py` as a user meets it: help and the version with no setting at all, and every
mistake (a process or an option that does not exist, a setting that is wrong, Slack out of
reach) one line on stderr with no traceback.

Each case runs the real `run.py` in a fresh interpreter with an empty environment, so what is
asserted is what a person at a terminal reads.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("bot", "worker", "beat", "flower", "local")


def run_py(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("reportbot: "), done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.mark.unit
def test_help_lists_the_processes_and_names_the_settings() -> None:
    done = run_py("--help")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    for process in PROCESSES:
        assert any(line.split()[:1] == [process] for line in lines), (process, done.stdout)
    for setting in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "CELERY_BROKER_URL", "REDIS_URL", ".env"):
        assert setting in done.stdout, setting
    assert "`" not in done.stdout


@pytest.mark.unit
@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_has_help_without_any_setting(process: str) -> None:
    done = run_py(process, "--help")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"Usage: run.py {process} ")
    if process in ("worker", "beat", "flower"):
        assert "Other options are passed on to" in done.stdout


@pytest.mark.unit
def test_version_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = run_py("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"reportbot {declared}\n", "")


@pytest.mark.unit
def test_an_unknown_process_is_one_line() -> None:
    assert_one_line(run_py("wroker"), 2, "unknown process 'wroker'", "worker")


@pytest.mark.unit
def test_an_option_celery_does_not_know_is_one_line() -> None:
    assert_one_line(run_py("worker", "--bogus"), 2, "worker", "--bogus")


@pytest.mark.unit
def test_a_bad_setting_is_one_line() -> None:
    assert_one_line(run_py("worker", LOG_FORMAT="xml"), 2, "LOG_FORMAT")


def test_the_bot_with_slack_out_of_reach_is_one_line_naming_slack_api_url() -> None:
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/"
    done = run_py("bot", SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", SLACK_API_URL=url)
    assert_one_line(done, 1, url, "SLACK_API_URL")
