"""The status message's buttons, as Bolt action listeners: Cancel and Run again.

Slack delivers a click as a signed interactivity request (HTTP) or an `interactive` envelope
(Socket Mode); Bolt verifies and routes both to the same listener. Each listener acks at once,
and the work of the command it stands for (`bot.job_control`) runs after the ack, on the app's
after-ack threads; the clicker is answered privately through the interaction's response_url.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.after_ack import AfterAck
from bot.commands import Reply, answer
from bot.job_control import JobControl
from bot.slack_payload import string_at
from tasks.rendering.messages import CANCEL_ACTION, RERUN_ACTION
from tasks.slack.ids import valid_channel_id, valid_user_id

log = logging.getLogger(__name__)


def _clicked(body: dict[str, Any]) -> tuple[str, str, str]:
    """(the button's value: a job id, the clicker's user id, the channel clicked in)."""
    return (
        string_at(body, "actions", 0, "value"),
        valid_user_id(string_at(body, "user", "id")),  # "" unless shaped like Slack's ids
        valid_channel_id(string_at(body, "channel", "id")),
    )


def _finish(reply: Reply, respond: Respond) -> None:
    try:
        respond(text=reply.text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the response_url may be used up or expired; the work is done
        log.warning("could not answer a button click: %s", exc)
    reply.run_after(log)


def register_interactions(app: App, control: JobControl, after_ack: AfterAck) -> None:
    """Add the Cancel and Run again listeners to `app`; their work runs on `after_ack`."""

    @app.action(CANCEL_ACTION)
    def on_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        job_id, user, channel = _clicked(body)
        ack()
        after_ack.run(
            lambda: _finish(
                answer(lambda: control.cancel(job_id, user, channel), what="Cancel button"), respond
            ),
            "Cancel button",
        )

    @app.action(RERUN_ACTION)
    def on_run_again(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        job_id, user, channel = _clicked(body)
        team = string_at(body, "team", "id")
        response_url = string_at(body, "response_url")
        trigger_id = string_at(body, "trigger_id")
        ack()

        def run_again() -> Reply:
            return control.run_again(
                job_id, user, channel, team=team, response_url=response_url, trigger_id=trigger_id
            )

        after_ack.run(
            lambda: _finish(answer(run_again, what="Run again button"), respond), "Run again button"
        )
