"""Errors a person can cause by what they type, kept apart from the code's own bugs.

The bot shows a ``UserError``'s message to the person as is (ephemeral) and logs nothing
alarming; any other exception is a bug and gets a short apology plus a log line instead.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error the person typing the command caused.

    ``.message`` is shown to them in Slack as is, so it must already be mrkdwn-escaped where it
    echoes their text, and should say what was wrong and what would be right.

    >>> raise UserError("There is no report called `salse`. Did you mean `sales`?")
    Traceback (most recent call last):
    ...
    tasks.errors.UserError: There is no report called `salse`. Did you mean `sales`?
    """

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
