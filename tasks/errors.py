"""Errors whose message is written for people, kept apart from the code's own bugs.

A ``UserError``'s message is shown as is: by the bot to the person who typed the command
(ephemeral), by the worker in the job's thread when a report raises it. Any other exception is a
bug: its text may hold anything (a database URL with its password, a key, someone's data), so
Slack gets only its kind, a short apology and the job id, and the worker's log the whole of it,
credentials redacted (`tasks.logs.redact`).
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error meant for the people in Slack: what they typed is wrong, or a report says why it
    has nothing to show. The one exception whose message reaches Slack.

    ``.message`` is shown in Slack as is, so it must already be mrkdwn-escaped where it echoes
    someone's text, must hold no secret, and should say what was wrong and what would be right.
    A report author raises it (``from tasks.errors import UserError``) for a message meant for
    people; any other exception a report raises shows in the thread only as its kind.

    >>> raise UserError("There is no report called `salse`. Did you mean `sales`?")
    Traceback (most recent call last):
    ...
    tasks.errors.UserError: There is no report called `salse`. Did you mean `sales`?
    """

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
