"""Logging for every process: text or one JSON object a line, the job id on each line, no secrets.

The job id rides in a context variable set by whoever is handling a job, so a line logged deep
in a report or in slack_sdk still says which job it belongs to. Secrets from the settings are
replaced before any handler sees the line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar

from tasks.settings import Settings

job_id_var: ContextVar[str] = ContextVar("reportbot_log_job", default="")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret of six characters or more with `[redacted]`."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text


class _Context(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = getattr(record, "job_id", "") or job_id_var.get()
        if self.secrets:
            message = redact(record.getMessage(), self.secrets)
            record.msg, record.args = message, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "job_id", ""):
            data["job_id"] = record.job_id  # type: ignore[attr-defined]
        if record.exc_info or record.exc_text:
            data["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, ensure_ascii=False)


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
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter(TEXT_FORMAT))
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
