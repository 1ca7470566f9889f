"""Long answers cut to what one Slack message shows: whole lines, a page at a time, and a count
of what was left out with the command that shows it.

Slack asks that a message's text stay within 4,000 characters and cuts it beyond 40,000 (the
`text` field of chat.postMessage); an ephemeral answer longer than that fails to show at all. So
every list the bot answers with (schedules, history, help and the reports) goes through here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tasks.errors import UserError

#: The most characters of one answer: Slack's advice for a message's text.
ANSWER_LIMIT = 4000
#: Room kept under the limit for the heading and the closing "… and N more" line.
_FOOTER_ROOM = 300
_ELLIPSIS = "…"

T = TypeVar("T")


def cut_line(line: str, limit: int) -> str:
    """`line` within `limit` characters, ending in "…" where it was cut. A code span left open
    by the cut is closed, so the rest of the answer is not shown as code. Cutting escaped text
    never makes a mention: the `<` of any entity in it is already `&lt;`."""
    if len(line) <= limit:
        return line
    cut = line[: max(0, limit - 2)].rstrip() + _ELLIPSIS
    return cut + "`" if cut.count("`") % 2 else cut


def fit_lines(head: str, lines: Sequence[str], more: Callable[[int], str], limit: int = ANSWER_LIMIT) -> str:
    """`head`, then as many of `lines` as fit in `limit` characters, then `more(n)` for the
    `n` lines left out. A single line too long for the answer is cut (`cut_line`)."""
    budget = limit - _FOOTER_ROOM
    kept: list[str] = []
    used = len(head)
    for line in lines:
        line = cut_line(line, budget - len(head) - 1)
        if used + 1 + len(line) > budget:
            break
        kept.append(line)
        used += 1 + len(line)
    text = "\n".join([head, *kept]) if head else "\n".join(kept)
    left = len(lines) - len(kept)
    if left:
        text += "\n" + cut_line(more(left), _FOOTER_ROOM - 2)
    return text


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, its number, how many pages there are, and how many items
    come after it."""

    items: list[T]
    number: int
    count: int
    after: int


def page_of(items: Sequence[T], number: int, size: int, *, what: str, command: str) -> Page[T]:
    """Page `number` (from 1) of `items`, `size` to a page. A page past the end is refused with
    how many there are and the command for the last one (`command` takes ` page N` after it)."""
    count = max(1, -(-len(items) // size))
    if number > count:
        last = f"{command} page {count}" if count > 1 else command
        raise UserError(
            f"There is no page {number} of {what}: there {'is' if count == 1 else 'are'} "
            f"{count} page{'s' if count != 1 else ''}. The last one is `{last}`."
        )
    start = (number - 1) * size
    chosen = list(items[start : start + size])
    return Page(items=chosen, number=number, count=count, after=len(items) - start - len(chosen))
