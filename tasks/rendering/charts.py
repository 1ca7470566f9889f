"""A report's Chart drawn as a PNG, headless, for attaching in the job's thread.

Part of rendering (``tasks.rendering.messages.render_result`` calls it). matplotlib's object API with
the Agg canvas: no pyplot, so no global figure state shared between a worker's threads and no
display needed. matplotlib is imported on first use; the bot never draws.
"""

from __future__ import annotations

import io
import math
from typing import Any

from tasks.rendering.tables import format_value, is_number
from tasks.reports.results import Chart, File

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.5, 100  # 800 × 450 pixels
MAX_LABELS = 40  # x labels drawn; more are thinned so they stay readable


def _numbers(chart: Chart, column: str) -> list[float]:
    values = chart.table.column(column)
    out: list[float] = []
    for value in values:
        if value is None:
            out.append(math.nan)
        elif is_number(value):
            out.append(float(value))
        else:
            raise ValueError(f"chart column {column!r} must hold numbers; it has {value!r}")
    return out


def chart_png(chart: Chart) -> bytes:
    """The chart as PNG bytes (800 × 450)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [format_value(v) for v in chart.table.column(chart.x)]
    series: dict[str, list[float]] = {name: _numbers(chart, name) for name in chart.y}
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if chart.type == "pie":
        name = chart.y[0]
        pairs = [(label, v) for label, v in zip(labels, series[name], strict=True) if v == v and v > 0]
        if pairs:
            axes.pie([v for _, v in pairs], labels=[label for label, _ in pairs], autopct="%1.0f%%")
        axes.set_aspect("equal")
    else:
        positions = list(range(len(labels)))
        if chart.type == "bar":
            width = 0.8 / len(series)
            for index, (name, values) in enumerate(series.items()):
                offset = (index - (len(series) - 1) / 2) * width
                axes.bar(
                    [p + offset for p in positions], [0 if v != v else v for v in values], width, label=name
                )
        else:
            for name, values in series.items():
                axes.plot(positions, values, marker="o" if len(positions) <= 60 else None, label=name)
        step = max(1, math.ceil(len(labels) / MAX_LABELS))
        axes.set_xticks(
            positions[::step],
            labels[::step],
            rotation=45 if len(labels) > 8 else 0,
            ha="right" if len(labels) > 8 else "center",
        )
        axes.set_xlabel(chart.x)
        if len(series) == 1:
            axes.set_ylabel(chart.y[0])
        else:
            axes.legend()
        axes.yaxis.set_major_formatter(_thousands)
        axes.grid(axis="y", alpha=0.3)
    if chart.title:
        axes.set_title(chart.title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _thousands(value: float, _position: Any) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def chart_file(chart: Chart, stem: str) -> File:
    """The PNG attachment for ``chart``, named ``stem`` (already made from its title and unique)."""
    return File(name=f"{stem}.png", content=chart_png(chart), title=chart.title or stem)
