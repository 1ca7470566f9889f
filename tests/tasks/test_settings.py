"""Settings come from the environment and .env once; a missing one stops a process with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_documented_contract() -> None:
    s = load_settings(environ={}, dotenv=None)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.slack_command == "/run-report"
    assert s.celery_broker_url == "amqp://guest:guest@localhost:5672//"
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.port == 3000 and s.schedule_min_interval == 60 and s.default_timezone == "UTC"
    assert not s.socket_mode


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=4000\nSLACK_COMMAND=/from-file\nREPORT_MODULES=a.b, c.d\n")
    s = load_settings(environ={"PORT": "5000"}, dotenv=dotenv)
    assert s.port == 5000
    assert s.slack_command == "/from-file"
    assert s.report_modules == ("a.b", "c.d")


def test_an_app_token_turns_on_socket_mode_and_the_api_url_gets_its_slash() -> None:
    s = load_settings(environ={"SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "http://x/api"}, dotenv=None)
    assert s.socket_mode and s.slack_api_url == "http://x/api/"


def test_a_malformed_number_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="PORT must be a whole number"):
        load_settings(environ={"PORT": "eighty"}, dotenv=None)


def test_secrets_are_not_in_the_settings_repr() -> None:
    s = Settings(slack_bot_token="xoxb-secret-value", slack_signing_secret="sig-secret-value")
    assert "secret-value" not in repr(s)


def test_the_bot_without_a_token_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_SIGNING_SECRET": "x", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "reportbot: SLACK_BOT_TOKEN is not set; see .env.example"
