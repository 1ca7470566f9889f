"""Slack's Web API: the one client factory, and every call the bot and the workers make.

Everything else says *what* to post or look up and calls `WebApi`; only this module knows the
method names, their arguments and the scope each needs (`METHOD_SCOPES`, which the app manifest
is built from). Bolt's own `ack`, `respond` and `say`, and the calls Bolt makes itself through
the client it is given, are Bolt's.

The client points at `SLACK_API_URL` (Slack, GovSlack, the sandbox or the tests' fake) and turns
on slack_sdk's own retry handlers: connection errors and 5xx with backoff and jitter, and HTTP
429 after the `Retry-After` Slack sends (slack_sdk's default retries only connection errors,
once). Its clients keep their HTTP connection open between calls (`tasks.slack.kept_alive`),
except the one for lookups before an ack, which has a single try. Errors come out as slack_sdk
raises them (`SlackApiError`, `SlackRequestError`, `OSError`): what to do about one is the
caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.models.views import View
from slack_sdk.web.slack_response import SlackResponse
from slack_sdk.webhook import WebhookClient

from tasks.metrics import SLACK_API_ERRORS, SLACK_RETRIES
from tasks.settings import Settings
from tasks.slack.kept_alive import KeptAliveWebClient

__all__ = [
    "ACK_PATH_TIMEOUT",
    "METHOD_SCOPES",
    "SLACK_TIMEOUT",
    "SlackUnreachable",
    "WebApi",
    "make_client",
    "make_webhook",
    "retry_handlers",
    "web_url",
]

SLACK_TIMEOUT = 15
# A lookup made before the bot acks (user groups, a user's time zone) gets this long, once.
ACK_PATH_TIMEOUT = 1.0

# Every slack_sdk WebClient method reportbot's code or Bolt may call, and the bot scope it needs
# (None: none). The manifest's scopes are built from it, and a test reads the code for the calls.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,  # Bolt, once, to learn who the token is
    "apps_connections_open": None,  # the app-level token's connections:write, not a bot scope
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "files_upload_v2": "files:write",
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,  # a modal, on a trigger_id: interactivity, no scope
    "views_update": None,
    "views_push": None,
    "views_publish": None,  # the App Home tab; no scope, the Home tab must be on in the manifest
}


class SlackUnreachable(Exception):
    """Slack's Web API could not be reached at all, retries spent. A process meets it at start,
    where it is nearly always SLACK_API_URL (or the network) that is wrong, so the message is one
    line naming the URL and the setting that points there."""

    def __init__(self, api_url: str, error: OSError) -> None:
        reason = getattr(error, "reason", error)  # urllib's URLError wraps the socket's error
        detail = getattr(reason, "strerror", None) or str(reason)
        super().__init__(f"cannot reach Slack's Web API at {api_url} (set by SLACK_API_URL): {detail}")


# -- the client ---------------------------------------------------------------------------------


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


def web_url(api_url: str) -> str:
    """Slack's web address for links, from the Web API's (`SLACK_API_URL`): slack.com, GovSlack
    (slack-gov.com) or the sandbox all serve `archives/` beside `api/`.

    >>> web_url("https://slack-gov.com/api/")
    'https://slack-gov.com/'
    """
    base = api_url.rstrip("/")
    if base.endswith("/api"):
        base = base[: -len("/api")]
    return base + "/"


# -- the calls ----------------------------------------------------------------------------------


class WebApi:
    """The Slack calls reportbot makes, one method each, over one WebClient."""

    def __init__(self, client: WebClient) -> None:
        self.client = client  # also handed to Bolt, for the calls Bolt makes itself

    @classmethod
    def for_settings(
        cls, settings: Settings, *, wait_on_rate_limit: bool = True, ack_path: bool = False
    ) -> WebApi:
        """Over `make_client(settings, ...)`; see there for the two flags."""
        return cls(make_client(settings, wait_on_rate_limit=wait_on_rate_limit, ack_path=ack_path))

    def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """`chat.postMessage`, in `channel` or in the thread of `thread_ts`; the new message's ts."""
        extra: dict[str, Any] = {}
        if thread_ts is not None:
            extra["thread_ts"] = thread_ts
        if blocks is not None:
            extra["blocks"] = blocks
        response = self.client.chat_postMessage(channel=channel, text=text, **extra)
        return str(response["ts"])

    def update_message(
        self, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """`chat.update`: the message `ts` in `channel` says `text` (and `blocks`) instead."""
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """`chat.postEphemeral`: `text` in `channel`, seen by `user` alone."""
        self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def upload_files(self, channel: str, thread_ts: str, uploads: list[dict[str, Any]]) -> None:
        """`files_upload_v2` (getUploadURLExternal, the bytes, completeUploadExternal): `uploads`
        (dicts of content, filename, title) in the thread of `thread_ts`, in one flow."""
        self.client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread_ts)

    def usergroup_members(self, group: str) -> frozenset[str]:
        """`usergroups.users.list`: the user ids in the user group `group`."""
        response = self.client.usergroups_users_list(usergroup=group)
        return frozenset(str(u) for u in response.get("users") or [])

    def user_time_zone(self, user: str) -> str | None:
        """`users.info`: the user's time zone name, or None when Slack does not give one."""
        response = self.client.users_info(user=user)
        tz = (response.get("user") or {}).get("tz")
        return str(tz) if tz else None

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """`views.open`: `view` as a modal for whoever's `trigger_id` it is (valid 3 s, once);
        the view as Slack stored it (with its `id` and `hash`)."""
        response = self.client.views_open(trigger_id=trigger_id, view=view)
        return dict(response.get("view") or {})

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> dict[str, Any]:
        """`views.update`: the open modal `view_id` shows `view` instead; with `view_hash`,
        only if nobody changed it since (else `hash_conflict`)."""
        extra = {"hash": view_hash} if view_hash else {}
        response = self.client.views_update(view_id=view_id, view=view, **extra)
        return dict(response.get("view") or {})

    def respond_ephemeral(self, response_url: str, text: str) -> bool:
        """`text` to the requester alone through a command's response_url; False if refused."""
        return make_webhook(response_url).send(text=text, response_type="ephemeral").status_code == 200

    def push_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """`views.push`: `view` on top of the modal the click came from (a stack holds 3)."""
        response = self.client.views_push(trigger_id=trigger_id, view=view)
        return dict(response.get("view") or {})

    def publish_home(self, user: str, view: View | dict[str, Any]) -> None:
        """`views.publish`: `view` (type "home") becomes what `user` sees in the app's Home tab."""
        self.client.views_publish(user_id=user, view=view)
