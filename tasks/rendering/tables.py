"""How a report's Table looks in Slack: a table block or aligned monospace, and its CSV.

Part of rendering (``tasks.rendering.messages.render_result`` calls it); pure functions, so tests
call them directly. Slack's limits (slack_sdk ``TableBlock`` and docs.slack.dev's table block): at
most 100 rows including the header, 20 columns, one table block per message; section text at most
``tasks.rendering.limits.SECTION_LIMIT`` characters. Inline we show the first rows only, say how
many more there are, and the whole table always goes along as CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import math
import re
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock, TableBlock

from tasks.rendering.limits import SECTION_LIMIT
from tasks.reports.results import File, Table
from tasks.slack.mrkdwn import escape_mrkdwn, without_broadcasts

TABLE_MAX_ROWS = 100  # Slack: rows of a table block, the header row included
TABLE_MAX_COLUMNS = 20  # Slack: cells in a table block row
INLINE_ROWS = 20  # our choice: enough to read at a glance; the CSV has the rest
INLINE_CHARS = 8_000  # our budget of cell text per message, under msg_blocks_too_long (~13k)
CELL_CHARS = 200  # one cell's text inline; the CSV keeps it whole
MONO_CELL_CHARS = 30  # one cell's width in the monospace layout
EMPTY = "—"  # a NULL, inline (raw_text cells need at least one character)


def is_number(value: Any) -> bool:
    """Numbers are right-aligned and formatted; bools are not numbers to a reader."""
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def numeric_columns(table: Table) -> list[bool]:
    """A column is numeric when every value in it that is not NULL is a number."""
    flags = []
    for index in range(len(table.columns)):
        values = [row[index] for row in table.rows if row[index] is not None]
        flags.append(bool(values) and all(is_number(v) for v in values))
    return flags


def _fractional(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and not value.is_integer()
    if isinstance(value, decimal.Decimal):
        return value.is_finite() and value != value.to_integral_value()
    return False


def column_decimals(table: Table) -> list[int]:
    """Decimals per column: 2 where any number has a fraction, so a column's numbers line up."""
    return [
        2 if any(_fractional(row[index]) for row in table.rows) else 0 for index in range(len(table.columns))
    ]


def format_value(value: Any, decimals: int | None = None) -> str:
    """A value as a person reads it: ``1,234``, ``1,234.50``, ``2024-05-01``, ``yes``, ``—``.

    ``decimals`` fixes the decimals of a number (its column's); by default integers get none
    and other numbers two.
    """
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        return str(value)
    if isinstance(value, int | float | decimal.Decimal):
        places = decimals if decimals is not None else (0 if isinstance(value, int) else 2)
        return f"{value:,.{places}f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = str(value)
    return text if text else " "


def csv_value(value: Any) -> str:
    """A value for the CSV: exact, not prettified (``1234.5``, not ``1,234.50``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


def table_csv(table: Table) -> bytes:
    """The whole table as RFC 4180 CSV (UTF-8, CRLF line ends, header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_value(v) for v in row])
    return out.getvalue().encode("utf-8")


def file_stem(text: str, default: str = "table") -> str:
    """A safe file name stem from a title or report name: ``Revenue by region`` → ``revenue-by-region``."""
    stem = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return stem or default


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inline_rows(table: Table, max_rows: int) -> int:
    """How many rows fit inline: at most ``max_rows``, within the character budget."""
    used = sum(len(c) for c in table.columns)
    count = 0
    for row in table.rows[:max_rows]:
        size = sum(min(len(format_value(v)), CELL_CHARS) for v in row)
        if count and used + size > INLINE_CHARS:
            break
        used += size
        count += 1
    return count


def more_rows_note(shown: int, total: int) -> str:
    """Said plainly: how much of the table is in the message, and where the rest is."""
    if shown >= total:
        return ""
    more = total - shown
    return (
        f"Showing the first {shown:,} of {total:,} rows. "
        f"{more:,} more {'row is' if more == 1 else 'rows are'} in the attached CSV."
    )


def table_block(table: Table, *, notify: bool = False) -> tuple[TableBlock, int]:
    """Slack's table block for the first rows; returns it and how many data rows it holds.

    Cells are raw text, shown as they are, but for broadcast mentions, unless the report may
    ``notify``."""
    shown = _inline_rows(table, min(INLINE_ROWS, TABLE_MAX_ROWS - 1))
    numeric = numeric_columns(table)
    decimals = column_decimals(table)

    def cell(text: str) -> dict[str, str]:
        text = _clip(text, CELL_CHARS)
        return {"type": "raw_text", "text": text if notify else without_broadcasts(text)}

    rows = [[cell(name or " ") for name in table.columns]]
    for row in table.rows[:shown]:
        rows.append([cell(format_value(v, d)) for v, d in zip(row, decimals, strict=True)])
    settings = [{"align": "right" if flag else "left"} for flag in numeric]
    return TableBlock(rows=rows, column_settings=settings), shown


def monospace(
    table: Table, max_rows: int = INLINE_ROWS, limit: int = SECTION_LIMIT - 8
) -> tuple[str, int, int]:
    """Aligned columns in plain text, numbers right-aligned: (text, rows shown, columns shown).

    Once escaped for mrkdwn it fits in ``limit`` characters: columns are dropped from the right
    until the header fits, then rows from the end. Widths are laid out unescaped, as Slack shows
    them (``&amp;`` shows as ``&``), but sizes are measured escaped (``&`` is 5 characters then).
    """
    numeric = numeric_columns(table)
    decimals = column_decimals(table)
    cells = [[_clip(c, MONO_CELL_CHARS) for c in table.columns]]
    cells += [
        [_clip(format_value(v, d), MONO_CELL_CHARS) for v, d in zip(row, decimals, strict=True)]
        for row in table.rows[:max_rows]
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]

    def line(row: list[str], ncols: int) -> str:
        parts = [row[i].rjust(widths[i]) if numeric[i] else row[i].ljust(widths[i]) for i in range(ncols)]
        return "  ".join(parts).rstrip()

    def rule(ncols: int) -> str:
        return "  ".join("-" * widths[i] for i in range(ncols))

    def escaped_len(text: str) -> int:
        return len(escape_mrkdwn(text))

    ncols = len(table.columns)
    while ncols > 1 and escaped_len(line(cells[0], ncols)) + len(rule(ncols)) + 1 > limit:
        ncols -= 1
    lines = [line(cells[0], ncols), rule(ncols)]
    size = escaped_len(lines[0]) + len(lines[1]) + 1
    shown = 0
    for row in cells[1:]:
        text = line(row, ncols)
        if size + escaped_len(text) + 1 > limit:
            break
        lines.append(text)
        size += escaped_len(text) + 1
        shown += 1
    return "\n".join(lines), shown, ncols


def render_table(table: Table, *, use_block: bool, notify: bool = False) -> tuple[list[Block], str]:
    """Blocks showing the first rows of ``table`` and a plain-text fallback for notifications.

    ``use_block`` is False when the message already holds a table block (Slack allows one) or
    the table is too wide for one; then it is aligned monospace in a code block.
    """
    blocks: list[Block] = []
    fallback: list[str] = []
    if table.title:
        title = _clip(table.title, 200)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{escape_mrkdwn(title)}*")))
        fallback.append(escape_mrkdwn(title))
    total = len(table.rows)
    text, mono_rows, mono_cols = monospace(table)
    if use_block and len(table.columns) <= TABLE_MAX_COLUMNS and total:
        block, shown = table_block(table, notify=notify)
        blocks.append(block)
        hidden_columns = 0
    else:
        # Escaping after layout keeps the columns aligned as Slack shows them (&amp; shows as &);
        # monospace() measured the escaped text, so the code block fits the section.
        body = escape_mrkdwn(text)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"```\n{body}\n```")))
        shown = mono_rows
        hidden_columns = len(table.columns) - mono_cols
    fallback.append(escape_mrkdwn(text))
    notes = []
    if not total:
        notes.append("The report returned no rows.")
    note = more_rows_note(shown, total)
    if note:
        notes.append(note)
    if hidden_columns:
        notes.append(
            f"{hidden_columns:,} more columns did not fit; all {len(table.columns):,} are in the CSV."
        )
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" ".join(notes))]))
        fallback.append(" ".join(notes))
    return blocks, "\n".join(fallback)


def csv_file(table: Table, stem: str) -> File:
    """The CSV attachment for ``table``."""
    return File(name=f"{stem}.csv", content=table_csv(table), title=table.title or stem)
