"""The one Slack Web API client factory, for the bot and the workers alike.

It points at `SLACK_API_URL` (Slack, GovSlack, the sandbox or the tests' fake) and turns on
slack_sdk's own retry handlers: connection errors and 5xx with backoff and jitter, and HTTP 429
after the `Retry-After` Slack sends. The default client retries only connection errors once.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from tasks.settings import Settings

SLACK_TIMEOUT = 15


def retry_handlers() -> list:  # type: ignore[type-arg]
    return [
        ConnectionErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=3),
        RateLimitErrorRetryHandler(max_retry_count=6),
    ]


def make_client(settings: Settings) -> WebClient:
    """A WebClient for the bot token, at the configured API URL, with retries on."""
    return WebClient(
        token=settings.slack_bot_token or None,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=retry_handlers(),
    )


def make_webhook(url: str) -> WebhookClient:
    """A client for a command's response_url, with the same retries."""
    return WebhookClient(url, timeout=SLACK_TIMEOUT, retry_handlers=retry_handlers())
