"""Slack posting for jobs: the status message, its thread, and word back to the requester.

The steps, not the HTTP: what to post where, and what to do when Slack refuses it; the calls
themselves go through `tasks.slack.web_api`. Which steps a job has already posted is kept in its
record (`tasks.jobs.records.JobRecord.status_ts` and `.steps`), and `tasks.worker.execution`
skips a step that is done, so a redelivered or retried job updates its status message instead
of re-posting it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from tasks.slack.web_api import WebApi

if TYPE_CHECKING:  # only named in annotations: slack sits below jobs and rendering
    from tasks.jobs.records import Job
    from tasks.rendering.messages import Rendered

log = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3  # whole upload flows; each Web API call also has the client's retries
UPLOAD_BACKOFF = 1.0  # seconds before the second attempt, doubling
# Upload errors that another attempt will not fix.
PERMANENT_UPLOAD_ERRORS = {
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "missing_scope",
    "invalid_auth",
    "not_authed",
}
# Errors that no retry will fix: the bot cannot post in that channel until someone acts.
CHANNEL_ERRORS = {
    "not_in_channel": "I am not a member of this channel. Invite me with `/invite @reportbot` and run it again.",
    "channel_not_found": "I cannot see this channel (private, or removed). Invite me with `/invite @reportbot` and run it again.",
    "is_archived": "This channel is archived, so I cannot post the result here. Run it again in an open channel.",
}


class ChannelUnavailable(Exception):
    """The channel refuses the bot; the requester was told how to fix it."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Poster:
    """Posts a job's messages through one `WebApi`."""

    def __init__(self, slack: WebApi) -> None:
        self.slack = slack

    def _channel_error(self, job: Job, exc: SlackApiError) -> None:
        error = str(exc.response.get("error", ""))
        if error in CHANNEL_ERRORS:
            # A schedule's creator is told by DM as it pauses (`tasks.schedules.self_pause`): an
            # ephemeral in a channel that refuses the bot would be refused too.
            if not job.schedule_id:
                self.tell_requester(
                    job, f":warning: Job `{job.id}` could not post here. {CHANNEL_ERRORS[error]}"
                )
            raise ChannelUnavailable(error) from exc

    def post_in_channel(self, job: Job, message: Rendered) -> str:
        """Post the job's message in its channel (its status message, or a digest); return its ts."""
        try:
            return self.slack.post_message(job.channel, message.text, blocks=message.block_dicts())
        except SlackApiError as exc:
            self._channel_error(job, exc)
            raise

    def update_status(self, job: Job, ts: str, message: Rendered) -> None:
        self.slack.update_message(job.channel, ts, message.text, blocks=message.block_dicts())

    def post_in_thread(self, job: Job, ts: str, message: Rendered) -> None:
        """Reply in the status message's thread."""
        try:
            self.slack.post_message(job.channel, message.text, blocks=message.block_dicts(), thread_ts=ts)
        except SlackApiError as exc:
            self._channel_error(job, exc)
            raise

    def upload_files(self, job: Job, ts: str, files: Sequence[Any]) -> bool:
        """Attach files (``tasks.reports.results.File``) in the job's thread.

        Slack's external upload is three calls: getUploadURLExternal, the bytes to the
        upload URL, completeUploadExternal with channel and thread (`WebApi.upload_files`). Steps 1 and 3 get the
        client's retry handlers; step 2 has none in slack_sdk, so the whole flow is retried here
        a few times. If it still fails, the text result is already in the thread: we say there
        that the attachments could not be uploaded, log why, and return False.
        """
        if not files:
            return True
        uploads = [
            {"content": bytes(f.content), "filename": f.name, "title": f.title or f.name} for f in files
        ]
        error: Exception | None = None
        for attempt in range(UPLOAD_ATTEMPTS):
            if attempt:
                time.sleep(UPLOAD_BACKOFF * 2 ** (attempt - 1))
            try:
                self.slack.upload_files(job.channel, ts, uploads)
            except SlackApiError as exc:
                if exc.response.status_code == 429:
                    raise  # the job waits out the limit without its worker slot (tasks.worker.execution)
                error = exc
                if str(exc.response.get("error", "")) in PERMANENT_UPLOAD_ERRORS:
                    break
            except (SlackRequestError, OSError) as exc:
                error = exc
            else:
                return True
        names = ", ".join(f.name for f in files)
        log.warning("job %s: could not upload %s after retries: %s", job.id, names, error)
        try:
            self.slack.post_message(
                job.channel,
                f":warning: The attachments ({names}) could not be uploaded to Slack. "
                "The result above shows what fits in a message; run the report again to get the files.",
                thread_ts=ts,
            )
        except (SlackApiError, OSError) as exc:
            log.warning("job %s: could not say that the upload failed: %s", job.id, exc)
        return False

    def tell_requester(self, job: Job, text: str) -> None:
        """Say something only the requester sees: through response_url, else an ephemeral."""
        try:
            if job.response_url and self.slack.respond_ephemeral(job.response_url, text):
                return
            if job.user:
                self.slack.post_ephemeral(job.channel, job.user, text)
        except (SlackApiError, OSError) as exc:
            log.warning("could not tell the requester of job %s: %s", job.id, exc)
