"""What a report may return besides text: a table, a chart of a table, a file, or several.

Small value types a report author builds in one line; the worker turns them into Slack
messages and attachments (``tasks.rendering.messages``)::

    from tasks.reports import report, Table, Chart

    @report("sales", help="Revenue by region")
    def sales() -> list:
        table = Table(["region", "revenue"], [("emea", 1200.5), ("apac", 880)])
        return [table, Chart(table, type="bar", x="region", y="revenue")]

A plain ``str`` (mrkdwn) still works, alone or in the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ChartType = Literal["bar", "line", "pie"]
CHART_TYPES: tuple[str, ...] = ("bar", "line", "pie")

__all__ = ["CHART_TYPES", "Chart", "ChartType", "File", "MayNotify", "Skip", "Table", "parts_of"]


@dataclass(frozen=True)
class Table:
    """Column names and rows of values (numbers, text, dates, ``None``).

    Rows are stored as tuples; each must have one value per column, so a mistake shows where
    the report builds its table, not later in Slack.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    title: str | None = None

    def __init__(
        self, columns: Iterable[Any], rows: Iterable[Iterable[Any]], title: str | None = None
    ) -> None:
        cols = tuple(str(c) for c in columns)
        if not cols:
            raise ValueError("a Table needs at least one column")
        body = tuple(tuple(row) for row in rows)
        for number, row in enumerate(body, 1):
            if len(row) != len(cols):
                raise ValueError(f"Table row {number} has {len(row)} values for {len(cols)} columns {cols!r}")
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "rows", body)
        object.__setattr__(self, "title", title)

    def column(self, name: str) -> list[Any]:
        """The values of one column, top to bottom; ``KeyError`` naming the columns there are."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; the columns are {', '.join(self.columns)}")
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class Chart:
    """A bar, line or pie chart of a table's columns: ``x`` the labels, ``y`` one or more series.

    Give it a ``Table`` or a ``(columns, rows)`` pair. ``y`` defaults to every column but ``x``.
    """

    table: Table
    type: ChartType = "bar"
    x: str = ""
    y: tuple[str, ...] = ()
    title: str | None = None

    def __init__(
        self,
        table_or_columns_rows: Table | tuple[Sequence[Any], Iterable[Iterable[Any]]],
        type: ChartType = "bar",
        x: str | None = None,
        y: str | Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        if isinstance(table_or_columns_rows, Table):
            table = table_or_columns_rows
        else:
            columns, rows = table_or_columns_rows
            table = Table(columns, rows)
        if type not in CHART_TYPES:
            raise ValueError(f"chart type {type!r} is not one of {', '.join(CHART_TYPES)}")
        x_name = x or table.columns[0]
        if isinstance(y, str):
            series: tuple[str, ...] = (y,)
        elif y:
            series = tuple(y)
        else:
            series = tuple(c for c in table.columns if c != x_name)
        for name in (x_name, *series):
            if name not in table.columns:
                raise ValueError(f"chart column {name!r} is not in the table ({', '.join(table.columns)})")
        if not series:
            raise ValueError("a chart needs at least one y column besides x")
        if type == "pie" and len(series) != 1:
            raise ValueError("a pie chart shows one y column")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "x", x_name)
        object.__setattr__(self, "y", series)
        object.__setattr__(self, "title", title if title is not None else table.title)


@dataclass(frozen=True)
class File:
    """Bytes to attach in the job's thread, under ``name`` (its extension tells Slack the type)."""

    name: str
    content: bytes = field(repr=False)
    title: str | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"a File needs a plain file name, got {self.name!r}")
        if isinstance(self.content, str):
            object.__setattr__(self, "content", self.content.encode("utf-8"))
        if not isinstance(self.content, bytes | bytearray):
            raise TypeError(f"File content must be bytes, got {type(self.content).__name__}")


@dataclass(frozen=True)
class Skip:
    """A run with nothing to say: ``return Skip("no new orders")``.

    The run is recorded as skipped, with the reason, and nothing is posted for a schedule's run
    (a digest that would only say "nothing new" is noise). Someone who ran the report by hand
    asked a question, so their status message says it was skipped and why. The reason is the
    report author's text, shown as mrkdwn with broadcasts neutralized; keep it short.
    """

    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise TypeError(f"Skip's reason must be text, got {type(self.reason).__name__}")


def skipped(result: Any) -> Skip | None:
    """The ``Skip`` a report returned (also from a ``notify=True`` report), else None."""
    if isinstance(result, MayNotify):
        result = result.result
    return result if isinstance(result, Skip) else None


@dataclass(frozen=True)
class MayNotify:
    """The result of a report declared with ``notify=True``: its broadcast mentions
    (``<!channel>``, ``<!here>``, user groups) reach Slack live. ``Report.run`` wraps it; every
    other report's broadcasts are shown as text, so a report echoing what someone typed
    cannot ping a channel."""

    result: Any


def parts_of(result: Any) -> list[Any]:
    """A report's return value as a flat list of parts (``str``, Table, Chart, File, other)."""
    if isinstance(result, list | tuple):
        parts: list[Any] = []
        for item in result:
            parts.extend(parts_of(item))
        return parts
    return [] if result is None else [result]
