"""The naive bot: slack-bolt, one plain `send_task` per command with Celery's defaults, then ack.

Served on the same HTTP server and signature check as ours (`bot.http.make_server`,
`make_wsgi`; Bolt's own check off, as in our bot), so a difference in the figures is the
difference in what the two do per command, not in the server.

    python -m bench.naive_bot      # serves on PORT
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bench.naive_tasks import NAIVE_RUN
from bot.http import make_server, make_wsgi
from tasks.settings import load_settings


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    celery = Celery("naive-bot", broker=settings.celery_broker_url)
    app = App(
        client=WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url),
        signing_secret=settings.slack_signing_secret,
        request_verification_enabled=False,  # make_wsgi checks the signature, as for our bot
    )

    @app.command(settings.slack_command)
    def run(ack: Ack, command: dict[str, Any]) -> None:
        celery.send_task(NAIVE_RUN, args=[command["channel_id"], command["user_id"], command["text"]])
        ack(text=f"Queued {command['text']}")

    make_server(make_wsgi(app, signing_secret=settings.slack_signing_secret), "127.0.0.1", settings.port).run()


if __name__ == "__main__":
    main()
