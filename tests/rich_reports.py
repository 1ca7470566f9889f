"""Reports returning tables, charts and files, loaded by the test worker through REPORT_MODULES."""

from __future__ import annotations

import datetime as dt

from tasks.reports import Chart, File, Table, report
from tasks.reports.results import ChartType


@report("rows", help="A table of n rows")
def rows(n: int = 3) -> Table:
    return Table(["item", "count", "price"], [(f"item {i}", i * 1000, i * 1.5) for i in range(1, n + 1)])


@report("wide", help="A table too wide for a table block")
def wide(cols: int = 25) -> Table:
    return Table([f"c{i}" for i in range(cols)], [tuple(range(cols)) for _ in range(3)])


@report("exact", help="A table whose CSV is checked byte for byte")
def exact() -> list:
    table = Table(
        ["name", "amount", "day", "note"],
        [
            ("Acme, Inc.", 1234.5, dt.date(2024, 5, 1), 'said "hi"'),
            ("<b>Bold</b> & co", 7, None, ""),
        ],
        title="Customers",
    )
    return ["Here are the *customers*:", table]


@report("plot", help="A table and its line chart")
def plot(kind: ChartType = "line") -> list:
    table = Table(["month", "visits"], [("jan", 120), ("feb", 340), ("mar", 290)])
    return [table, Chart(table, type=kind, x="month", y="visits", title="Visits by month")]


@report("attach", help="Text and a file")
def attach() -> list:
    return ["The notes are attached.", File("notes.txt", b"line one\nline two\n", title="Notes")]
