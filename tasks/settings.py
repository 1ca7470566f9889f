"""Settings: read from the environment once, into one immutable object.

Every process (bot, worker, beat, sandbox) calls `load_settings()` at start and passes the
result down. Nothing else in the code reads `os.environ`, so what a process runs with is
visible in one place and tests can build a `Settings` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tasks.redis_url import SentinelUrlError, is_sentinel_url, parse_sentinel_url, sentinel_password


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """What a reportbot process is configured with (see `.env.example` for each one)."""

    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = "https://slack.com/api/"
    slack_command: str = "/run-report"
    celery_broker_url: str = "amqp://guest:guest@localhost:5672//"
    redis_url: str = "redis://localhost:6379/0"
    redis_prefix: str = "reportbot:"
    port: int = 3000
    report_modules: tuple[str, ...] = ()
    reports_file: str = "reports.toml"
    report_time_limit: float = 300.0
    schedule_min_interval: int = 60
    default_timezone: str = "UTC"
    admin_users: tuple[str, ...] = ()
    # Fair use; 0 turns a limit off. ADMIN_USERS have none of them. Ten schedules cover one
    # person's digests; twenty-five in a channel keep even every-minute schedules under Slack's
    # one message a second there. Twenty jobs queued or running is more than anyone waits for by
    # hand, and stops a script's burst before it fills the queue.
    schedules_per_user: int = 10
    schedules_per_channel: int = 25
    # Failed digest runs in a row after which a schedule pauses itself: one failure may be a
    # passing database blip; three in a row is a report or a channel that needs a person.
    schedule_failure_limit: int = 3
    jobs_per_user: int = 20
    job_retention_days: int = 30
    flower_port: int = 5555
    flower_basic_auth: str = field(default="", repr=False)
    log_level: str = "INFO"
    log_format: str = "text"
    # The whole environment (.env overlaid by the real one), for `${VAR}` in the database URLs
    # of REPORTS_FILE; read here like every other setting, never shown.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    celery_queue_type: str = "classic"
    worker_metrics_port: int = 9808
    beat_metrics_port: int = 9809
    # The names of the settings given explicitly (environment or .env), not defaulted: local mode
    # uses the real broker and Redis only when they were asked for.
    explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is chosen by the presence of an app-level token (`SLACK_APP_TOKEN`)."""
        return bool(self.slack_app_token)

    def secrets(self) -> tuple[str, ...]:
        """The values that must never reach a log line, a task or a Slack message: the tokens,
        Flower's credentials whole and each password alone (a line may show just that), and the
        passwords in the broker's and Redis's URLs, as written and percent-decoded."""
        passwords = [pair.split(":", 1)[1] for pair in self.flower_basic_auth.split(",") if ":" in pair]
        urls = [*self.celery_broker_url.split(";"), self.redis_url]
        for url in urls:
            try:
                password = urlsplit(url.strip()).password
            except ValueError:  # a malformed URL: its connection fails and says so
                password = sentinel_password(url)  # read apart, so it is hidden all the same
            if password:
                passwords += [password, unquote(password)]
        candidates = (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.flower_basic_auth,
            *passwords,
        )
        return tuple(dict.fromkeys(s for s in candidates if s))

    def require(self, *names: str) -> Settings:
        """Stop a process at start, with one line, when a setting it cannot work without is unset."""
        for name in names:
            if not getattr(self, name):
                raise SettingsError(f"{name.upper()} is not set; see .env.example")
        return self

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_INT_FIELDS = {
    "port",
    "schedule_min_interval",
    "job_retention_days",
    "flower_port",
    "worker_metrics_port",
    "beat_metrics_port",
    "schedules_per_user",
    "schedules_per_channel",
    "schedule_failure_limit",
    "jobs_per_user",
}
_FLOAT_FIELDS = {"report_time_limit"}
_TUPLE_FIELDS = {"report_modules", "admin_users"}


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` file's values; missing file means none. Parsed by python-dotenv."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Build Settings from `.env` (if present) overlaid by the real environment, which wins."""
    values: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
    values.update(os.environ if environ is None else environ)
    kwargs: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "environ":
            kwargs[f.name] = dict(values)
            continue
        raw = values.get(f.name.upper())
        if raw is None or raw == "":
            continue
        if f.name in _INT_FIELDS:
            try:
                kwargs[f.name] = int(raw)
            except ValueError:
                raise SettingsError(f"{f.name.upper()} must be a whole number, got {raw!r}") from None
        elif f.name in _FLOAT_FIELDS:
            try:
                kwargs[f.name] = float(raw)
            except ValueError:
                raise SettingsError(f"{f.name.upper()} must be a number, got {raw!r}") from None
        elif f.name in _TUPLE_FIELDS:
            kwargs[f.name] = _split(raw)
        else:
            kwargs[f.name] = raw
    explicit = frozenset(k for k in kwargs if k != "environ")
    settings = Settings(**kwargs, explicit=explicit)
    if not settings.slack_api_url.endswith("/"):
        settings = settings.with_(slack_api_url=settings.slack_api_url + "/")
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    """Refuse values of the right type that still cannot work, with one line naming the setting."""
    if settings.log_format not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT must be text or json, got {settings.log_format!r}")
    for name in ("schedules_per_user", "schedules_per_channel", "jobs_per_user"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{name.upper()} must be 0 (no limit) or more, got {getattr(settings, name)}")
    if settings.schedule_failure_limit < 1:
        raise SettingsError(
            f"SCHEDULE_FAILURE_LIMIT must be 1 or more, got {settings.schedule_failure_limit}"
        )
    if is_sentinel_url(settings.redis_url):
        try:
            parse_sentinel_url(settings.redis_url)
        except SentinelUrlError as exc:  # its message names the form, never the URL given
            raise SettingsError(str(exc)) from None
    if settings.celery_queue_type not in ("classic", "quorum"):
        raise SettingsError(
            f"CELERY_QUEUE_TYPE must be classic or quorum, got {settings.celery_queue_type!r}"
        )
