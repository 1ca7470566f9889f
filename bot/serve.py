"""`python run.py bot`: serve Slack over Socket Mode or HTTP, with /healthz and /metrics."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from bot.app import build_app
from bot.http import make_server, make_wsgi
from bot.socket_mode import SocketModeRunner
from tasks.settings import Settings

log = logging.getLogger(__name__)


def run_bot(settings: Settings, host: str = "0.0.0.0") -> None:
    """Serve until stopped. Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT."""
    _exit_on_sigterm()
    app = build_app(settings)
    if settings.socket_mode:
        runner = SocketModeRunner(app, settings).start()
        server = make_server(make_wsgi(None, runner.health), host, settings.port)
        log.info("reportbot: Socket Mode connected; /healthz and /metrics on port %s", settings.port)
    else:
        server = make_server(
            make_wsgi(app, signing_secret=settings.slack_signing_secret), host, settings.port
        )
        log.info("reportbot: serving Slack at http://%s:%s/slack/events", host, settings.port)
    server.run()


def _exit_on_sigterm() -> None:
    """Docker and Kubernetes stop a container with SIGTERM, which by default ends Python on the
    spot. As a normal exit instead, the exit handlers run: the records of jobs just queued are
    written (`bot.queued_records`) before the process goes."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
