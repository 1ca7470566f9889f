"""The one Slack Web API client factory, for the bot and the workers alike.

It points at `SLACK_API_URL` (Slack, GovSlack, the sandbox or the tests' fake) and turns on
slack_sdk's own retry handlers: connection errors and 5xx with backoff and jitter, and HTTP 429
after the `Retry-After` Slack sends. The default client retries only connection errors once.

Its clients keep their HTTP connection open between calls (`tasks.slack.kept_alive`), except the one
for lookups before an ack, which has a single try.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web.slack_response import SlackResponse
from slack_sdk.webhook import WebhookClient

from tasks.metrics import SLACK_API_ERRORS, SLACK_RETRIES
from tasks.settings import Settings
from tasks.slack.kept_alive import KeptAliveWebClient

SLACK_TIMEOUT = 15


class _Counted(RetryHandler):
    """Mixin for a slack_sdk retry handler: count each retry it decides to make, by reason."""

    reason = ""

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        SLACK_RETRIES.labels(reason=self.reason).inc()
        super().prepare_for_next_attempt(**kwargs)


class _ConnectionErrors(_Counted, ConnectionErrorRetryHandler):
    reason = "connection_error"


class _ServerErrors(_Counted, ServerErrorRetryHandler):
    reason = "server_error"


class _RateLimited(_Counted, RateLimitErrorRetryHandler):
    reason = "ratelimited"


def retry_handlers(wait_on_rate_limit: bool = True) -> list[RetryHandler]:
    handlers: list[RetryHandler] = [_ConnectionErrors(max_retry_count=3), _ServerErrors(max_retry_count=3)]
    if wait_on_rate_limit:
        handlers.append(_RateLimited(max_retry_count=6))
    return handlers


# A lookup made before the bot acks (user groups, a user's time zone) gets this long, once.
ACK_PATH_TIMEOUT = 1.0


class CountingWebClient(KeptAliveWebClient):
    """A WebClient that counts the calls Slack refused (every method goes through api_call)."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            SLACK_API_ERRORS.labels(
                method=api_method, error=str(error or f"http_{exc.response.status_code}")
            ).inc()
            raise


def make_client(settings: Settings, *, wait_on_rate_limit: bool = True, ack_path: bool = False) -> WebClient:
    """A WebClient for the bot token, at the configured API URL, with retries on.

    `wait_on_rate_limit=False` is for the workers: a 429 comes back as an error instead of a
    sleep, so the job can give its worker slot back and be retried after `Retry-After`
    (`tasks.worker.execution`), and a digest to many channels is not paced by sleeping processes.
    `ack_path=True` is for a lookup the bot makes before it acks: one try, `ACK_PATH_TIMEOUT`,
    no retries, a new connection, so Slack's three seconds are never at risk.
    """
    return CountingWebClient(
        token=settings.slack_bot_token or None,
        base_url=settings.slack_api_url,
        timeout=int(ACK_PATH_TIMEOUT) if ack_path else SLACK_TIMEOUT,
        retry_handlers=[] if ack_path else retry_handlers(wait_on_rate_limit),
        # With one try and no retry handler, a kept connection the server closed just as the
        # call went out would fail the lookup; a new connection per call cannot meet that.
        keep_alive=not ack_path,
    )


def make_webhook(url: str) -> WebhookClient:
    """A client for a command's response_url, with the same retries."""
    return WebhookClient(url, timeout=SLACK_TIMEOUT, retry_handlers=retry_handlers())
