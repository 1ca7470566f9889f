"""The status message's buttons, as Bolt action listeners: Cancel and Run again.

Slack delivers a click as a signed interactivity request (HTTP) or an `interactive` envelope
(Socket Mode); Bolt verifies and routes both to the same listener. Each listener acks at once,
then does the work of the command it stands for (`bot.job_control`) and answers the clicker
privately through the interaction's response_url.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import replies
from bot.commands import Reply
from bot.job_control import JobControl
from tasks.errors import UserError
from tasks.rendering import CANCEL_ACTION, RERUN_ACTION

log = logging.getLogger(__name__)


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    """(the button's value: a job id, the clicker's user id)."""
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or ""), str((body.get("user") or {}).get("id") or "")


def _answer(work: Callable[[], Reply]) -> Reply:
    """Like `CommandHandler.handle`: a refusal is a Reply, a bug is an apology, never silence."""
    try:
        return work()
    except UserError as exc:
        return Reply(exc.message, outcome="refused")
    except Exception:
        log.exception("button failed")
        return Reply(replies.SORRY, outcome="error")


def _finish(reply: Reply, respond: Respond) -> None:
    try:
        respond(text=reply.text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the response_url may be used up or expired; the work is done
        log.warning("could not answer a button click: %s", exc)
    for later in reply.after:
        try:
            later()
        except Exception:
            log.exception("after-click step failed")


def register_interactions(app: App, control: JobControl) -> None:
    """Add the Cancel and Run again listeners to `app`."""

    @app.action(CANCEL_ACTION)
    def on_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        job_id, user = _clicked(body)
        _finish(_answer(lambda: control.cancel(job_id, user)), respond)

    @app.action(RERUN_ACTION)
    def on_run_again(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        job_id, user = _clicked(body)
        team = str((body.get("team") or {}).get("id") or "")
        response_url = str(body.get("response_url") or "")
        _finish(_answer(lambda: control.run_again(job_id, user, team, response_url)), respond)
