"""Escaping for Slack's mrkdwn, so that text a person typed is shown, never interpreted.

Slack reads ``<...>`` as links and mentions (``<!channel>`` pings everyone), so anything echoed
back from user input goes through :func:`escape_mrkdwn` first.
"""

from __future__ import annotations

__all__ = ["code", "escape_mrkdwn"]


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences: ``&``, ``<`` and ``>``.

    ``&`` goes first so the entities we add are not escaped twice.

    >>> escape_mrkdwn("<!channel> & co")
    '&lt;!channel&gt; &amp; co'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Show ``text`` as inline code: escaped, in backticks.

    A backtick inside would end the code span early, so it is shown as ``'`` instead; this is
    for display only, never for text that is parsed again.

    >>> code("<b>`x`")
    "`&lt;b&gt;'x'`"
    """
    return "`" + escape_mrkdwn(text.replace("`", "'")) + "`"


def join_or(items: list[str]) -> str:
    """`a`, `a or b`, `a, b or c`: choices in a sentence written for the person reading it."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
