"""The floor for the ack: a bare Bolt app that only acks, on the bot's own HTTP server.

Same server (`bot.http.make_server`, waitress), with Bolt's own request handling
(`bench.bolt_served`), same Web API client; the listener does nothing but ack. Whatever our bot
adds above this is the cost of its own request handling, parsing, validating and publishing.

    python -m bench.floor_bot      # serves on PORT, like `run.py bot`
    python -m bench.floor_bot --process-before-response   # the listener runs in the request thread

The second form is configured as our bot is (Bolt's process_before_response: no hand-off to a
listener thread, no polling for the ack), so the table can also show ours against that.
"""

from __future__ import annotations

import logging
import sys

from slack_bolt import Ack, App

from bench.bolt_served import bolt_served
from bot.http import make_server
from tasks.settings import load_settings
from tasks.slack.web_api import make_client


def build_floor_app(process_before_response: bool = False) -> tuple[App, int]:
    settings = load_settings()
    app = App(
        client=make_client(settings),
        signing_secret=settings.slack_signing_secret,
        process_before_response=process_before_response,
    )

    @app.command(settings.slack_command)
    def only_ack(ack: Ack) -> None:
        ack(text="ok")

    return app, settings.port


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app, port = build_floor_app("--process-before-response" in sys.argv[1:])
    make_server(bolt_served(app), "127.0.0.1", port).run()


if __name__ == "__main__":
    main()
