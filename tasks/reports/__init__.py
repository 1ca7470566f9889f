"""The whole API a report author needs: the ``@report`` decorator and its companions.

>>> from tasks.reports import report
>>> @report("sales", help="Revenue by region")          # doctest: +SKIP
... def sales(region: str = "all", days: int = 7) -> str:
...     return f"*{region}*: 42 € over {days} days"

The result types a report may return (Table, Chart, File, and Skip for a run with nothing to
say) are re-exported here too.
"""

from tasks.reports._registry import (
    PARAM_NAME,
    REPORT_NAME,
    RESERVED_NAMES,
    ArgumentError,
    Param,
    Registry,
    Report,
    registry,
    report,
)
from tasks.reports.loading import load_reports
from tasks.reports.results import Chart, File, Skip, Table

__all__ = [
    "Chart",
    "File",
    "Skip",
    "Table",
    "PARAM_NAME",
    "REPORT_NAME",
    "RESERVED_NAMES",
    "ArgumentError",
    "Param",
    "Registry",
    "Report",
    "load_reports",
    "registry",
    "report",
]
