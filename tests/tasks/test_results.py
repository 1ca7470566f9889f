"""Tables, charts and files as a person sees them in the thread: rendering, pure functions."""

from __future__ import annotations

import datetime as dt
import decimal
import struct

import pytest

from tasks.rendering.messages import render_result
from tasks.rendering.tables import INLINE_ROWS, TABLE_MAX_COLUMNS, table_csv
from tasks.reports import Chart, File, Table
from tasks.reports.results import ChartType

pytestmark = pytest.mark.unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def cells(block: dict) -> list[list[str]]:
    return [[cell["text"] for cell in row] for row in block["rows"]]


def test_a_table_is_a_slack_table_block_with_numbers_formatted_and_right_aligned() -> None:
    table = Table(["region", "revenue", "orders"], [("emea", 1200.5, 3), ("apac", 880, None)])
    rendered = render_result(table, name="sales")
    blocks = rendered.block_dicts()
    [block] = [b for b in blocks if b["type"] == "table"]
    assert cells(block) == [
        ["region", "revenue", "orders"],
        ["emea", "1,200.50", "3"],
        ["apac", "880.00", "—"],
    ]
    assert [c["align"] for c in block["column_settings"]] == ["left", "right", "right"]
    assert "emea" in rendered.text and "1,200.50" in rendered.text  # the notification fallback


def test_the_whole_table_is_attached_as_csv_with_exact_values() -> None:
    table = Table(
        ["name", "amount", "day", "note"],
        [
            ("Acme, Inc.", 1234.5, dt.date(2024, 5, 1), 'said "hi"'),
            ("B & co", decimal.Decimal("7.10"), None, ""),
        ],
    )
    [csv] = render_result(table, name="customers").files
    assert csv.name == "customers.csv"
    assert csv.content == (
        b'name,amount,day,note\r\n"Acme, Inc.",1234.5,2024-05-01,"said ""hi"""\r\nB & co,7.10,,\r\n'
    )
    assert table_csv(table) == csv.content


def test_a_long_table_shows_its_first_rows_and_says_how_many_more_are_in_the_csv() -> None:
    table = Table(["n", "square"], [(i, i * i) for i in range(250)])
    rendered = render_result(table, name="squares")
    [block] = [b for b in rendered.block_dicts() if b["type"] == "table"]
    assert len(block["rows"]) == INLINE_ROWS + 1 <= 100  # Slack: 100 rows, header included
    assert "Showing the first 20 of 250 rows. 230 more rows are in the attached CSV." in str(
        rendered.block_dicts()
    )
    assert rendered.files[0].content.count(b"\r\n") == 251


def test_long_cells_are_cut_inline_within_slack_limits_but_whole_in_the_csv() -> None:
    table = Table(["text"], [("x" * 5000,) for _ in range(30)])
    rendered = render_result(table, name="long")
    blocks = rendered.block_dicts()
    [block] = [b for b in blocks if b["type"] == "table"]
    assert all(len(row[0]["text"]) <= 200 for row in block["rows"])
    assert sum(len(row[0]["text"]) for row in block["rows"]) <= 8_000
    assert "more rows are in the attached CSV" in str(blocks)
    assert rendered.files[0].content.count(b"x" * 5000) == 30


def test_a_table_wider_than_slack_allows_is_aligned_monospace_with_numbers_right_aligned() -> None:
    columns = [f"col{i}" for i in range(TABLE_MAX_COLUMNS + 5)]
    table = Table(columns, [tuple(range(0, 25 * 1000, 1000)), tuple(range(25))])
    blocks = render_result(table, name="wide").block_dicts()
    assert not [b for b in blocks if b["type"] == "table"]
    code = blocks[0]["text"]["text"]
    assert code.startswith("```") and len(code) <= 3000
    lines = code.strip("`\n").splitlines()
    assert lines[2].startswith("   0  1,000  2,000") and lines[3].startswith("   0      1      2")


def test_only_one_table_block_per_message_the_second_table_is_monospace() -> None:
    first, second = Table(["a"], [(1,)]), Table(["b"], [("x",)], title="Second")
    rendered = render_result([first, second], name="two")
    types = [b["type"] for b in rendered.block_dicts()]
    assert types.count("table") == 1 and "```" in str(rendered.block_dicts())
    assert [f.name for f in rendered.files] == ["two.csv", "second.csv"]


def test_cell_text_cannot_ping_or_link_in_the_monospace_layout_or_the_fallback() -> None:
    table = Table([f"c{i}" for i in range(21)], [("<!channel>",) + (0,) * 20])
    rendered = render_result(table, name="x")
    assert "<!channel>" not in str(rendered.block_dicts()) and "<!channel>" not in rendered.text
    assert "&lt;!channel&gt;" in rendered.text


def test_a_chart_is_a_png_of_matplotlibs_size() -> None:
    table = Table(["month", "visits"], [("jan", 120), ("feb", 340)])
    rendered = render_result(
        [table, Chart(table, type="bar", x="month", y="visits", title="Visits")], name="v"
    )
    png = next(f for f in rendered.files if f.name.endswith(".png"))
    assert png.name == "visits.png"
    assert png_size(png.content) == (800, 450)
    assert "bar chart attached" in str(rendered.block_dicts())


@pytest.mark.parametrize("kind", ["line", "pie"])
def test_line_and_pie_charts_render_too(kind: ChartType) -> None:
    chart = Chart((["k", "v"], [("a", 1), ("b", 2.5), ("c", None)]), type=kind)
    [png] = render_result(chart, name="c").files
    assert png_size(png.content) == (800, 450)


def test_a_chart_of_text_values_is_a_clear_error_for_the_author() -> None:
    with pytest.raises(ValueError, match="must hold numbers"):
        render_result(Chart((["k", "v"], [("a", "lots")])), name="c")
    with pytest.raises(ValueError, match="not in the table"):
        Chart((["k", "v"], [("a", 1)]), y="nope")


def test_files_are_attached_and_plain_text_still_works() -> None:
    rendered = render_result(["*done*", File("notes.txt", b"hi")], name="n")
    assert [f.name for f in rendered.files] == ["notes.txt"]
    assert rendered.block_dicts()[0]["text"]["text"] == "*done*"
    assert render_result("just *text*").files == []


def test_a_table_row_of_the_wrong_length_is_refused_where_it_is_built() -> None:
    with pytest.raises(ValueError, match="row 2 has 1 values for 2 columns"):
        Table(["a", "b"], [(1, 2), (3,)])


@pytest.mark.timeout(10)
def test_column_names_that_grow_when_escaped_still_fit_a_section_and_say_what_is_hidden() -> None:
    columns = ["&" * 30 + str(i) for i in range(50)]  # each & shows as &amp;: five times longer
    rendered = render_result(Table(columns, [tuple(range(50))]), name="amp")
    blocks = rendered.block_dicts()
    code = blocks[0]["text"]["text"]
    assert code.startswith("```") and len(code) <= 3000
    assert "&&" not in code  # every & is escaped
    note = str(blocks[-1])
    assert "more columns did not fit; all 50 are in the CSV" in note
    assert "Showing the first -" not in note


def test_two_charts_with_the_same_title_are_two_files() -> None:
    table = Table(["month", "visits"], [("jan", 120), ("feb", 340)])
    charts = [
        Chart(table, x="month", y="visits", title="Revenue"),
        Chart(table, type="line", title="Revenue"),
    ]
    names = [f.name for f in render_result(charts, name="r").files]
    assert names == ["revenue.png", "revenue-2.png"]
