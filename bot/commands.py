"""What each parsed command does. Knows nothing of HTTP, Socket Mode or the sandbox.

`CommandHandler.handle` takes the slash command payload Slack sends (the same dict over every
transport) and returns a `Reply`: the ephemeral text to ack with, and optionally work that
must wait until after the ack, so the ack path stays a parse, a validation and one broker
publish (a queued job's record is handed to `bot.queued_records`, which writes it later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot import grammar, replies
from bot.deliveries import Deliveries
from bot.job_cap import JobCap
from bot.job_views import history_text, status_text, web_url
from bot.metrics import COMMANDS, DISPATCH_FAILURES
from bot.publish import Publisher, QueueUnavailable
from bot.queued_records import QueuedRecords
from bot.slack_payload import string_at
from tasks.errors import UserError
from tasks.jobs.access import Access, ack_path_access
from tasks.jobs.in_flight import JobsInFlight
from tasks.jobs.publishing import job_time_limit
from tasks.jobs.records import Job, JobRecords, new_job_id
from tasks.logs import job_id_var
from tasks.reports import Registry
from tasks.settings import Settings
from tasks.slack.ids import requester
from tasks.store import StoreUnavailable

log = logging.getLogger(__name__)

# Commands that read job records. Each first waits, at most RECORDS_SETTLE seconds, for the
# records of jobs this process queued but has not written yet (`bot.queued_records`), so a job
# is never unknown to `status` right after its ack said it was queued. `cancel` waits in
# `bot.job_control`, which its button shares.
READS_RECORDS = (grammar.Status, grammar.History)
RECORDS_SETTLE = 0.5
# The most one Redis call on the ack path (the delivery's mark and the person's count, or a
# schedule's mark) may take: Redis answers in about a millisecond, and one that hangs (a dropped
# connection, a failover) must not take the person's three seconds; past it the command goes on
# unguarded and uncounted.
ACK_STORE_TIMEOUT = 0.5


@dataclass
class Reply:
    """An ephemeral answer, plus what to do once Slack has it. `blocks`, when set, are what
    Slack shows (help's Run… button); `text` stays the whole answer, for notifications and for
    clients that show no blocks."""

    text: str
    after: list[Callable[[], None]] = field(default_factory=list)
    outcome: str = "ok"
    blocks: list[dict[str, Any]] | None = None

    def run_after(self, log: logging.Logger) -> None:
        """Do the after-ack steps; one that fails is logged, and the others still run."""
        for later in self.after:
            try:
                later()
            except Exception:
                log.exception("after-ack step failed")


def answer(work: Callable[[], Reply], what: str = "command") -> Reply:
    """`work`'s reply, or the answer for why it failed: a refusal for a UserError, the one
    "Redis is down" answer for StoreUnavailable, an apology for a bug. Never raises, so Slack
    never sees a 500 and the person is never left without an answer (commands and buttons)."""
    try:
        return work()
    except UserError as exc:
        return Reply(exc.message, outcome="refused")
    except StoreUnavailable as exc:
        log.warning("%s: store unavailable: %s", what, exc)
        return Reply(replies.store_down(), outcome="error")
    except Exception:
        log.exception("%s failed", what)
        return Reply(replies.SORRY, outcome="error")


class CommandHandler:
    """Turns a slash command into a reply and, for a report, one published job."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        publisher: Publisher,
        records: JobRecords,
        access: Access | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.publisher = publisher
        self.records = records
        self.queued_records = QueuedRecords(records)
        # The ack path's store: every call ends within ACK_STORE_TIMEOUT (`Store.bounded`).
        ack_store = records.store.bounded(ACK_STORE_TIMEOUT)
        self.deliveries = Deliveries(ack_store)  # one job per delivery, across processes
        # Who may run what; the worker checks again before running (tasks.jobs.access).
        self.access = access or ack_path_access(settings)
        self.command = settings.slack_command
        self.job_cap = JobCap(JobsInFlight(ack_store), settings)
        self._handlers: dict[type, Callable[[Any, Mapping[str, Any]], Reply]] = {
            grammar.Help: self._help,
            grammar.ListReports: self._list,
            grammar.RunReport: self._run,
            grammar.Status: self._status,
            grammar.History: self._history,
        }

    def register(self, kind: type, handler: Callable[[Any, Mapping[str, Any]], Reply]) -> None:
        """Add the handler of a command kind (jobs and schedules plug in their own)."""
        self._handlers[kind] = handler

    def handler_for(self, kind: type) -> Callable[[Any, Mapping[str, Any]], Reply] | None:
        """The handler of a command kind now, so a feature can wrap it (the report form adds
        its button to help and opens itself when a report's required arguments are missing)."""
        return self._handlers.get(kind)

    def handle(self, payload: Mapping[str, Any]) -> Reply:
        """Answer one slash command; never raises, so Slack never sees a 500."""
        kind = "unknown"

        def work() -> Reply:
            nonlocal kind
            requester(payload)  # ids Slack would send, before any of them is used or shown
            parsed = grammar.parse(string_at(payload, "text"), command=self.command)
            kind = type(parsed).__name__
            handler = self._handlers.get(type(parsed))
            if handler is None:
                raise UserError(f"`{self.command} {kind.lower()}` is not available in this installation.")
            if isinstance(parsed, READS_RECORDS):
                self.settle_records()
            return handler(parsed, payload)

        reply = answer(work, what=f"command {string_at(payload, 'text')[: grammar.SHOWN_CHARS]!r}")
        COMMANDS.labels(kind=kind, outcome=reply.outcome).inc()
        return reply

    def settle_records(self) -> None:
        """Wait, at most RECORDS_SETTLE, for the records of jobs this process queued but has not
        written yet (`bot.queued_records`), so a job just queued here is known to what reads it."""
        self.queued_records.flush(RECORDS_SETTLE)

    def _help(self, cmd: grammar.Help, payload: Mapping[str, Any]) -> Reply:
        if cmd.report:
            return Reply(
                replies.report_help(self.registry.require(cmd.report, command=self.command), self.command)
            )
        return Reply(replies.help_text(self.registry, self.command, grammar.usage(self.command)))

    def _list(self, cmd: grammar.ListReports, payload: Mapping[str, Any]) -> Reply:
        return Reply(replies.list_text(self.registry, self.command))

    def _run(self, cmd: grammar.RunReport, payload: Mapping[str, Any]) -> Reply:
        return self.queue(cmd.report, cmd.args, payload)

    def queue(
        self,
        report_name: str,
        args: Mapping[str, str],
        payload: Mapping[str, Any],
        *,
        schedule_id: str = "",
    ) -> Reply:
        """Validate and publish one job of `report_name` for the payload's user and channel.

        The one way a job is queued from Slack: the command, and the Run again button, which
        passes a payload of the same keys (channel_id, user_id, team_id, response_url, and the
        click's trigger_id). A delivery already seen (its trigger_id) gets its first job's answer.
        With `schedule_id` (a digest's Run now or Retry, `bot.digest_menu`) the job is a run of
        that schedule: posted as its digest, counted in its failures in a row.
        """
        who = requester(payload)
        report = self.registry.require(report_name, command=self.command)
        self.access.check(report, who.channel, who.user)
        report.convert_args(dict(args))  # validate now; the worker converts again from the text
        job = Job(
            id=new_job_id(),
            report=report.name,
            args=dict(args),
            channel=who.channel,
            user=who.user,
            team=who.team,
            response_url=string_at(payload, "response_url"),
            schedule_id=schedule_id,
        )
        time_limit = job_time_limit(report, self.settings)
        mark = self.deliveries.mark(payload.get("trigger_id"))
        admission = self.job_cap.admit(job, time_limit, mark)  # or refused at the cap
        if admission.replay_of:
            return Reply(replies.queued_text(replace(job, id=admission.replay_of)), outcome="replayed")
        token = job_id_var.set(job.id)
        try:
            self.publisher.publish(job, time_limit, bulk=admission.bulk)
        except QueueUnavailable:
            DISPATCH_FAILURES.inc()
            self.job_cap.release(job, mark)  # off the ack path, which the publish has spent
            return Reply(replies.not_queued_text(report.name), outcome="not_queued")
        finally:
            job_id_var.reset(token)
        log.info("queued job %s: %s", job.id, job.report, extra={"job_id": job.id})
        self.queued_records.add(job)  # written off the ack path, batched with its neighbours
        return Reply(replies.queued_text(job), outcome="queued")

    def _status(self, cmd: grammar.Status, payload: Mapping[str, Any]) -> Reply:
        return Reply(
            status_text(
                self.records,
                cmd.job_id,
                self.command,
                channel=string_at(payload, "channel_id"),
                user=string_at(payload, "user_id"),
                admins=self.settings.admin_users,
                web=web_url(self.settings.slack_api_url),
            )
        )

    def _history(self, cmd: grammar.History, payload: Mapping[str, Any]) -> Reply:
        channel = string_at(payload, "channel_id")
        return Reply(history_text(self.records, channel, self.command, web_url(self.settings.slack_api_url)))
