"""Escaping for Slack's mrkdwn, so that text a person typed is shown, never interpreted.

Slack reads ``<...>`` as links and mentions (``<!channel>`` pings everyone), so anything echoed
back from user input goes through :func:`escape_mrkdwn` first. A report's output is mrkdwn its
author wrote, so it keeps its links and user mentions; :func:`without_broadcasts` takes out only
what would notify a whole channel or group.
"""

from __future__ import annotations

import re

__all__ = ["code", "date_stamp", "escape_mrkdwn", "without_broadcasts"]

# Code points a reader cannot see and that software may drop (Unicode's Default_Ignorable_Code_Point
# and the format characters, category Cf): hidden between ``<`` and ``!`` they would keep a
# broadcast from being recognised here, and a later step that drops them would make it live.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001345f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_INVISIBLES = re.compile(f"[{_INVISIBLE}]")
# The opening of every special command Slack knows (``<!channel>``, ``<!here>``, ``<!everyone>``,
# ``<!group>``, ``<!subteam^S…|@team>``), closed or not, but a whole date (which notifies nobody).
_BROADCAST = re.compile(f"<[{_INVISIBLE}]*!(?!date\\^[^<>]*>)([^<>]*>)?")


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences: ``&``, ``<`` and ``>``.

    ``&`` goes first so the entities we add are not escaped twice.

    >>> escape_mrkdwn("<!channel> & co")
    '&lt;!channel&gt; &amp; co'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def without_broadcasts(text: str) -> str:
    """Report output (mrkdwn) with its broadcast mentions shown as text instead of notifying.

    Every ``<`` that opens a special command is escaped, with the invisible characters
    between it and the ``!`` dropped first (so ``<\\u200b!channel>`` counts), and so is the
    ``>`` closing it: what Slack shows is what the report wrote, and nothing dropped or added
    later makes it live again. User mentions, channel links, URLs and ``<!date^…>`` keep
    working; entities (``&lt;!channel&gt;``) and look-alikes (fullwidth ``＜``) are shown as
    text by Slack already.

    >>> without_broadcasts("<!here> see <@U1> and <https://x.org|docs>")
    '&lt;!here&gt; see <@U1> and <https://x.org|docs>'
    """
    if "<" not in text:
        return text
    return _BROADCAST.sub(_shown_as_text, text)


def _shown_as_text(match: re.Match[str]) -> str:
    return "&lt;!" + escape_mrkdwn(_INVISIBLES.sub("", match.group(1) or ""))


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


def date_stamp(ts: float, fallback: str, *, seconds: bool = False) -> str:
    """An instant as Slack's date formatting: every reader sees it in their own zone and in
    their own clock style; ``fallback`` is what a client that cannot format dates shows, so
    it names its zone.

    >>> date_stamp(1767261600, "2026-01-01 10:00 UTC")
    '<!date^1767261600^{date_short_pretty} {time}|2026-01-01 10:00 UTC>'
    """
    tokens = "{date_short_pretty} {time_secs}" if seconds else "{date_short_pretty} {time}"
    return f"<!date^{int(ts)}^{tokens}|{escape_mrkdwn(fallback)}>"
