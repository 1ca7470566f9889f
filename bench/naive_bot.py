"""The naive bot: slack-bolt, one plain `send_task` per command with Celery's defaults, then ack.

Served on the same HTTP server as ours (`bot.http.make_server`), with Bolt's own request
handling (`bench.bolt_served`), as a naive bot has it; so a difference in the figures is the
difference in what the two do per request, not in the server.

    python -m bench.naive_bot      # serves on PORT
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bench.bolt_served import bolt_served
from bench.naive_tasks import NAIVE_RUN
from bot.http import make_server
from tasks.settings import load_settings


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    celery = Celery("naive-bot", broker=settings.celery_broker_url)
    app = App(
        client=WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url),
        signing_secret=settings.slack_signing_secret,
    )

    @app.command(settings.slack_command)
    def run(ack: Ack, command: dict[str, Any]) -> None:
        celery.send_task(NAIVE_RUN, args=[command["channel_id"], command["user_id"], command["text"]])
        ack(text=f"Queued {command['text']}")

    make_server(bolt_served(app), "127.0.0.1", settings.port).run()


if __name__ == "__main__":
    main()
