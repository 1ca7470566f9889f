"""The Bolt app: one listener for the slash command, whatever the transport.

HTTP (`bot.http`) and Socket Mode (`bot.socket_mode`) are thin adapters around this app, as in
Bolt's own layout; the listener does not know which one delivered the command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, App, BoltRequest
from slack_bolt.error import BoltUnhandledRequestError

from bot.after_ack import AfterAck
from bot.channel_events import register_channel_events
from bot.commands import CommandHandler
from bot.digest_menu import install_digest_menu
from bot.home import register_home
from bot.interactions import register_interactions
from bot.job_control import install_job_control
from bot.metrics import ACK_SECONDS
from bot.publish import Publisher
from bot.report_form import install_report_form
from bot.schedule_commands import ScheduleCommands, install_schedule_commands
from bot.schedule_form import ScheduleForm, register_schedule_form
from bot.slack_payload import string_at
from tasks.jobs.records import JobRecords
from tasks.reports import Registry, load_reports
from tasks.schedules.self_pause import SelfPause
from tasks.settings import Settings
from tasks.slack.posting import Poster
from tasks.slack.web_api import SlackUnreachable, WebApi
from tasks.store import make_store

log = logging.getLogger(__name__)


def make_handler(settings: Settings, registry: Registry | None = None) -> CommandHandler:
    """The command handler with its real collaborators: reports, the broker, the store."""
    handler = CommandHandler(
        settings=settings,
        registry=registry
        or load_reports(
            settings.report_modules, reports_file=settings.reports_file, environ=settings.environ
        ),
        publisher=Publisher(settings),
        records=JobRecords(
            make_store(settings.redis_url, settings.redis_prefix), settings.job_retention_days
        ),
    )
    install_schedule_commands(handler, settings)
    return handler


def build_app(settings: Settings, handler: CommandHandler | None = None) -> App:
    """A Bolt app for `settings`. Over HTTP, `bot.slack_endpoint` checks signatures and timestamps
    on the raw bytes before anything is parsed, so Bolt's own check (which logs the whole body of
    each refused request) is off; Socket Mode needs none."""
    settings.require("slack_bot_token")
    if not settings.socket_mode:
        settings.require("slack_signing_secret")
    handler = handler or make_handler(settings)
    after_ack = AfterAck()
    slack = WebApi.for_settings(settings)
    try:
        with _quiet("slack_bolt", "slack_sdk.web.base_client"):
            app = _bolt_app(slack, settings)
    except OSError as exc:  # Bolt's auth.test at creation, after the client's retries
        raise SlackUnreachable(settings.slack_api_url, exc) from None
    app.error(_on_error)

    @app.command(settings.slack_command)
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        started = time.perf_counter()
        reply = handler.handle(command)
        ack(text=reply.text, blocks=reply.blocks)
        ACK_SECONDS.observe(time.perf_counter() - started)
        if reply.after:
            after_ack.run(lambda: reply.run_after(log), "command")

    control = install_job_control(handler, settings, Poster(slack), handler.publisher.app)
    register_interactions(app, control, after_ack)
    # The Home's, the digests' and the schedule form's Pause/Resume/Remove/Edit go through the
    # schedule commands' own methods and rules: one ScheduleCommands for all of them.
    schedules = ScheduleCommands(settings, handler)
    register_schedule_form(app, ScheduleForm(schedules, slack), after_ack)
    register_home(app, settings, handler, schedules, after_ack)
    install_report_form(app, handler, after_ack, slack)
    install_digest_menu(app, handler, schedules, slack, after_ack)
    register_channel_events(app, SelfPause(settings, handler.records.store, slack), after_ack)
    return app


def _bolt_app(slack: WebApi, settings: Settings) -> App:
    """Bolt's App over our client. Bolt calls auth.test here, so this is where a process first
    finds out whether Slack can be reached at all."""
    return App(
        client=slack.client,  # Bolt's own calls (auth.test) go through the same client
        signing_secret=settings.slack_signing_secret or None,
        # A listener runs in the request's own thread and Slack gets the ack as soon as it
        # returns. Bolt's default runs it on another thread and polls for the ack every 10 ms,
        # which would be most of the time a command takes to answer. So a listener does only the ack
        # path's work before returning, and hands what follows the ack to `after_ack`.
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
        request_verification_enabled=False,
        # A request no listener takes is one short log line (`_on_error`), not Bolt's warning
        # that prints the body and a suggested listener over many lines.
        raise_error_for_unhandled_request=True,
    )


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """These loggers silent while the app is created: the process starts with one
    line if Slack answers and stops with one (`SlackUnreachable`) if it never does, not with a
    line per retry of auth.test and Bolt's note that the client's token is the one it uses."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _on_error(error: Exception, request: BoltRequest, logger: logging.Logger) -> None:
    """Bolt's error handler: an unhandled request keeps Bolt's 404 and is one line naming its
    kind; any other error is a bug, logged with its traceback as Bolt's default handler does."""
    if isinstance(error, BoltUnhandledRequestError):
        body = request.body
        kind = body.get("type") or ("command " + string_at(body, "command") if "command" in body else "?")
        log.info("no listener for a %s request", repr(kind)[:60])
        return
    logger.exception("Failed to run a listener or middleware (error: %s)", error)
