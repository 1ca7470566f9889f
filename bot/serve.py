"""`python run.py bot`: serve Slack over Socket Mode or HTTP, with /healthz and /metrics."""

from __future__ import annotations

import logging

from bot.app import build_app
from bot.http import make_server, make_wsgi
from bot.socket_mode import SocketModeRunner
from tasks.settings import Settings

log = logging.getLogger(__name__)


def run_bot(settings: Settings, host: str = "0.0.0.0") -> None:
    """Serve until stopped. Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT."""
    app = build_app(settings)
    if settings.socket_mode:
        runner = SocketModeRunner(app, settings).start()
        server = make_server(make_wsgi(None, runner.health), host, settings.port)
        log.info("reportbot: Socket Mode connected; /healthz and /metrics on port %s", settings.port)
    else:
        server = make_server(make_wsgi(app), host, settings.port)
        log.info("reportbot: serving Slack at http://%s:%s/slack/events", host, settings.port)
    server.run()
