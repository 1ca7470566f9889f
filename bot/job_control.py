"""Stopping a job and running one again: `cancel <job id>`, and the status message's buttons.

Cancel: mark the record cancelled in the store first (the durable guard the worker checks before
it runs a job and before it posts a result), then revoke the task with terminate through the
bot's producer Celery app, within a bounded time. The status message is updated after the ack.
Run again: the finished job's report and arguments, queued anew for whoever clicked, in the
channel they clicked in, through the same path and checks as a command (`CommandHandler.queue`).
Both answer a job the clicker may not see exactly as an unknown id (`bot.job_views.visible`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from celery import Celery
from slack_sdk.errors import SlackApiError

from bot import grammar
from bot.commands import CommandHandler, Reply
from bot.job_views import no_such_job, run_time, visible
from bot.slack_payload import string_at
from tasks.errors import UserError
from tasks.jobs.records import JobRecord, JobState
from tasks.rendering.messages import describe_request, status_message
from tasks.schedules.home_refresh import refresh_home
from tasks.schedules.schedule import StaticSchedules
from tasks.settings import Settings
from tasks.slack.ids import user_mention
from tasks.slack.mrkdwn import escape_mrkdwn
from tasks.slack.posting import Poster
from tasks.store import StoreUnavailable

log = logging.getLogger(__name__)

# Seconds the ack waits for the revoke to reach the broker. Kombu retries a control publish
# without limit when the broker is away, so the call runs on a helper thread and we stop waiting.
REVOKE_TIMEOUT = 1.5
# SIGKILL, not SIGTERM. Both stop a prefork child and neither gets the job redelivered (tested
# with acks_late + reject_on_worker_lost: Celery acks a terminated task's message when it
# announces the revoke). But a pool child ignores SIGTERM when the worker runs with
# CELERY_REMAP_SIGTERM (celery/concurrency/prefork.py, WORKER_SIGIGNORE), a common container
# setting, and a report in C code would only see a Python-level handler late; SIGKILL always works.
TERMINATE_SIGNAL = "SIGKILL"


class JobControl:
    """Cancel and Run again, for the command and the buttons alike."""

    def __init__(
        self, settings: Settings, handler: CommandHandler, poster: Poster, celery_app: Celery
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.records = handler.records
        self.poster = poster
        self.celery_app = celery_app
        self.command = settings.slack_command
        self._revokes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="revoke")
        self.static = StaticSchedules(settings.reports_file, handler.registry)

    # ------------------------------------------------------------------ cancel

    def on_cancel_command(self, cmd: grammar.Cancel, payload: Mapping[str, Any]) -> Reply:
        """`/run-report cancel <job id>`, registered on the CommandHandler."""
        return self.cancel(cmd.job_id, string_at(payload, "user_id"), string_at(payload, "channel_id"))

    def cancel(self, job_id: str, user: str, channel: str) -> Reply:
        """Stop a queued or running job, if `user` (in `channel`) may; raises UserError with the
        reason if not. Someone who may not see the job (`visible`) hears exactly what `status`
        says of an unknown id, before anything about its state or its owner."""
        shown = escape_mrkdwn(job_id)
        record = self._record(job_id)
        if record is None or not visible(record, channel, user, self.settings.admin_users):
            raise no_such_job(job_id, self.command)
        self._check_can_cancel(record, user)
        was = record.state
        if not self.records.cancel(record, user):
            raise UserError(f"Job `{shown}` was already cancelled by {user_mention(record.cancelled_by)}.")
        revoked = self.revoke(job_id)
        what = describe_request(record.job)
        if was == JobState.QUEUED:
            text = f":no_entry_sign: Cancelled job `{shown}` ({what}) before it started; it will not run."
        else:
            text = f":no_entry_sign: Cancelled job `{shown}` ({what}): it was stopped and its result will not be posted."
        if not revoked:
            text += (
                " The job queue did not answer in time, so a report that is already running may run "
                "to its end; its result will still not be posted."
            )
        requester = record.job.user
        return Reply(
            text,
            after=[lambda: self.show_cancelled(job_id), lambda: self.refresh_home(requester)],
            outcome="cancelled",
        )

    def refresh_home(self, user: str) -> None:
        """After the ack: the requester's App Home lists the job as cancelled (if they opened
        it). A job that ends by itself is republished by beat (`HOME_STALE_INDEX`); a cancel
        leaves no final save, so the bot does it. Never raises."""
        static = self.static.current()  # an admin's Home lists the configuration's schedules too
        refresh_home(self.poster.slack, self.records.store, user, settings=self.settings, static=static)

    def _record(self, job_id: str) -> JobRecord | None:
        """The job's record, once this process has written the queued ones it still holds: a
        quick job's status message, with its Run again button, can be up within milliseconds of
        the ack, before the bot has written that job's record (and before the worker has)."""
        self.handler.settle_records()
        return self.records.get(job_id)

    def _check_can_cancel(self, record: JobRecord, user: str) -> None:
        shown = escape_mrkdwn(record.job.id)
        if record.state == JobState.CANCELLED:
            raise UserError(f"Job `{shown}` was already cancelled by {user_mention(record.cancelled_by)}.")
        if record.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED):
            raise UserError(
                f"Job `{shown}` has already {record.state}, so there is nothing to stop. "
                f"`{self.command} status {shown}` shows it."
            )
        if not user or (user != record.job.user and user not in self.settings.admin_users):
            owner = user_mention(record.job.user, "the person who ran it")
            raise UserError(
                f"Only {owner}, who ran job `{shown}`, or a reportbot admin can cancel it. "
                "Ask them, or run the report yourself."
            )

    def revoke(self, job_id: str) -> bool:
        """Tell the workers to drop the job, and kill the process running it; False if the
        broker did not take the message within REVOKE_TIMEOUT.

        Celery acks a terminated task's message as it announces the revoke, so with acks_late
        and reject_on_worker_lost the job is not redelivered
        (`test_a_cancelled_running_job_is_not_run_again` checks it). Workers keep revokes in
        memory only; the store's cancel marker is what a restarted worker checks.
        """
        future = self._revokes.submit(
            self.celery_app.control.revoke, job_id, terminate=True, signal=TERMINATE_SIGNAL
        )
        try:
            future.result(timeout=REVOKE_TIMEOUT)
            return True
        except FutureTimeout:
            log.warning("revoke of job %s: the broker did not answer within %s s", job_id, REVOKE_TIMEOUT)
        except Exception as exc:
            log.warning("revoke of job %s failed: %s: %s", job_id, type(exc).__name__, exc)
        return False

    def show_cancelled(self, job_id: str) -> None:
        """After the ack: the status message (if the job got that far) says who cancelled it."""
        try:
            record = self.records.get(job_id)
            ts = record.status_ts if record else None
        except StoreUnavailable:
            log.warning("store unavailable: status message of cancelled job %s not updated", job_id)
            return
        if record is None or not ts:
            return  # cancelled while queued: no status message was posted, and none will be
        # The run time `status` and `history` tell for this job (its cancel ends it).
        duration = run_time(record)
        if duration is None and record.started_at:
            duration = time.time() - record.started_at
        message = status_message(
            record.job, JobState.CANCELLED, duration=duration, cancelled_by=record.cancelled_by
        )
        try:
            self.poster.update_status(record.job, ts, message)
        except SlackApiError as exc:
            log.warning("could not update the status message of cancelled job %s: %s", job_id, exc)

    # --------------------------------------------------------------- run again

    def run_again(
        self,
        job_id: str,
        user: str,
        channel: str,
        *,
        team: str = "",
        response_url: str = "",
        trigger_id: str = "",
    ) -> Reply:
        """Queue the job's report and arguments anew, for `user`, in `channel` (where they
        clicked), exactly as if they had typed the command there.

        Someone who may not see the job (`visible`) hears what `status` says of an unknown id;
        the report's access is checked for the clicker in the clicking channel (`queue`), so a
        button can do nothing the command could not.
        """
        record = self._record(job_id)
        if record is None or not visible(record, channel, user, self.settings.admin_users):
            raise no_such_job(job_id, self.command)
        payload = {
            "channel_id": channel,
            "user_id": user,
            "team_id": team or record.job.team,
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        return self.handler.queue(record.job.report, record.job.args, payload)


def install_job_control(
    handler: CommandHandler, settings: Settings, poster: Poster, celery_app: Celery
) -> JobControl:
    """Wire `cancel <job id>` into the command handler (from build_app); the buttons that share
    the returned JobControl are Bolt listeners, registered by `bot.interactions`."""
    control = JobControl(settings, handler, poster, celery_app)
    handler.register(grammar.Cancel, control.on_cancel_command)
    return control
