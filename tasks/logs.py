"""Logging for every process: text or one JSON object a line, the job id on each line, no secrets.

The job id rides in a context variable set by whoever is handling a job, so a line logged deep
in a report or in slack_sdk still says which job it belongs to. Credentials are replaced before
any handler sees the line: the settings' own secrets, and anything shaped like one (`redact`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from tasks.settings import Settings

job_id_var: ContextVar[str] = ContextVar("reportbot_log_job", default="")


REDACTED = "[redacted]"

# Credentials by their shape, wherever they come from: a report's exception, a library's message.
# A few patterns of our own: secret scanners (detect-secrets, trufflehog) find secrets in files,
# they do not rewrite a log line.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A PEM private key, to its END line or, cut short, to the end of the text.
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----.*?(-----END ([A-Z0-9]+ )*PRIVATE KEY-----|\Z)", re.S
        ),
        "[redacted private key]",
    ),
    # The password of any URL (scheme://user:password@host): user and host stay, for the reader.
    # Greedy up to the last `@` before the path, so a password holding an `@` goes whole.
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)[^\s/]+(?=@)"), rf"\1{REDACTED}"),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=\-]+", re.I), rf"\1{REDACTED}"),
    # Slack tokens (bot, user, app-level, refresh, configuration) and AWS access key ids.
    (re.compile(r"xox[a-z](\.xox[a-z])?-[A-Za-z0-9\-]+|xapp-[A-Za-z0-9\-]+"), REDACTED),
    (re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}"), REDACTED),
    # The value after a key named like a credential: password=…, "token": "…", secret: …; not a
    # URL's user called so (scheme://token:…@host), whose password the URL rule has hidden.
    (
        re.compile(
            r"(?<!://)((?:passw(?:or)?d|pwd|token|secret|api[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str, secrets: Iterable[str] = (), min_length: int = 6) -> str:
    """`text` with credentials replaced by `[redacted]`: each of `secrets` (longest first, those
    of `min_length` characters or more: a short one would blank ordinary words), then anything
    shaped like a credential (`_SHAPES`), so a secret nobody configured is hidden too."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= min_length:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


# What every LogRecord carries (and what our filter and formatters add): the rest came through
# the caller's `extra=`, and the JSON line keeps it.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "job_id",
    "job_suffix",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The attributes the caller passed through logging's `extra=`, by name."""
    return {name: value for name, value in record.__dict__.items() if name not in _RECORD_ATTRIBUTES}


def _redacted(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with `redact` applied to every text in it; what JSON cannot hold becomes its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {redact(str(k), secrets): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v, secrets) for v in value]
    return redact(str(value), secrets)


class _Context(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = getattr(record, "job_id", "") or job_id_var.get()
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers, with the fields a caller passed in `extra=` (never
    in place of the line's own: time, level, logger, message, job_id, exc), redacted here: only
    this format writes them, and walking them for every line of the text format would tax every
    job (Celery passes its task's context with each line it logs)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if job_id := getattr(record, "job_id", ""):  # set through logging's `extra`
            data["job_id"] = job_id
        if record.exc_text:
            data["exc"] = record.exc_text
        elif record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        for name, value in extra_fields(record).items():
            data.setdefault(name, _redacted(value, self.secrets))
        return json.dumps(data, ensure_ascii=False, default=str)


# slack_sdk's logger and those of its clients we use (WebClient, WebhookClient, Socket Mode).
SLACK_SDK_LOGGERS = (
    "slack_sdk",
    "slack_sdk.web.base_client",
    "slack_sdk.webhook.client",
    "slack_sdk.socket_mode.builtin.client",
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(job_suffix)s: %(message)s"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        job = getattr(record, "job_id", "")
        record.job_suffix = f" [job {job}]" if job else ""
        return super().format(record)


def configure_logging(settings: Settings) -> None:
    """Set up the root logger once per process, as the settings ask."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context(settings.secrets()))
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter(settings.secrets()) if json_lines else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Python warnings (Celery's SecurityWarning, deprecations) become log lines in the same format.
    logging.captureWarnings(True)
    # slack_sdk logs request bodies at DEBUG; keep it quieter than ours. Its clients skip
    # building those lines only when the level set on their own module's logger says so: they
    # test `logger.level`, which stays 0 unless set on that very logger (python-slack-sdk#1957),
    # so every Web API call formatted its request into a string that logging then dropped.
    quiet = max(logging.INFO, root.level)
    for name in SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
