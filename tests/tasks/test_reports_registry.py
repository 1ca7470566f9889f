"""The report registry: declaring reports, and checking what people type against them."""

from __future__ import annotations

import datetime as dt
import sys
import types
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

from tasks.errors import UserError
from tasks.reports import ArgumentError, Param, Registry, Report, load_reports, registry, report

pytestmark = pytest.mark.unit

TODAY = dt.date(2024, 5, 10)


@pytest.fixture
def reports() -> Registry:
    return Registry()


@pytest.fixture
def sales(reports: Registry) -> Report:
    @report("sales", help="Revenue by region", registry=reports)
    def sales(
        region: str = "all",
        days: int = 7,
        since: dt.date | None = None,
        kind: Literal["bar", "line"] = "bar",
        draft: bool = False,
        ratio: float = 1.0,
    ) -> str:
        return f"{region} {days} {since} {kind} {draft} {ratio}"

    found = reports.get("sales")
    assert found is not None
    return found


def param(sales: Report, name: str) -> Param:
    found = sales.param(name)
    assert found is not None
    return found


# -- declaring reports ----------------------------------------------------------------------


def test_the_decorator_returns_the_function_unchanged_and_registers_it(reports: Registry) -> None:
    def daily(days: int = 1) -> str:
        return f"{days} days"

    assert report("daily", registry=reports)(daily) is daily
    assert daily(days=2) == "2 days"
    registered = reports.get("daily")
    assert registered is not None and registered.func is daily


def test_parameters_become_params_with_kinds_defaults_and_choices(sales: Report) -> None:
    assert [(p.name, p.kind, p.default, p.required) for p in sales.params] == [
        ("region", "str", "all", False),
        ("days", "int", 7, False),
        ("since", "date", None, False),
        ("kind", "choice", "bar", False),
        ("draft", "bool", False, False),
        ("ratio", "float", 1.0, False),
    ]
    assert param(sales, "kind").choices == ("bar", "line")


def test_a_parameter_without_default_is_required(reports: Registry) -> None:
    @report("since", registry=reports)
    def since_report(*, since: dt.date) -> str:
        return str(since)

    found = reports.require("since")
    assert found.params[0].required
    assert found.params[0].describe() == "since=<date YYYY-MM-DD> (required)"


def test_help_defaults_to_the_docstrings_first_line(reports: Registry) -> None:
    @report("documented", registry=reports)
    def documented() -> str:
        """Everything in one line.

        More detail.
        """
        return ""

    assert reports.require("documented").help == "Everything in one line."


def test_options_are_kept_as_tuples(reports: Registry) -> None:
    @report("private", channels="C1", users=["U1", "U2"], groups=("G1",), time_limit=30, registry=reports)
    def private() -> str:
        return ""

    found = reports.require("private")
    assert (found.channels, found.users, found.groups, found.time_limit) == (
        ("C1",),
        ("U1", "U2"),
        ("G1",),
        30.0,
    )


def test_optional_annotations_are_accepted(reports: Registry) -> None:
    @report("opt", registry=reports)
    def opt(a: Optional[int] = None, b: str | None = None) -> str:  # noqa: UP045 (testing the old spelling)
        return ""

    assert [p.kind for p in reports.require("opt").params] == ["int", "str"]


@pytest.mark.parametrize(
    "signature",
    [
        "def f(x: list = []): pass",
        "def f(x: dict[str, int] = {}): pass",
        "def f(x: dt.datetime = None): pass",
        "def f(x: int | str = 1): pass",
        "def f(x: Literal[1, 2] = 1): pass",
        "def f(x=1): pass",
        "def f(x: int = None): pass",
        "def f(x: Literal['a'] = 'b'): pass",
        "def f(*args: str): pass",
        "def f(**kwargs: str): pass",
        "def f(x: int, /): pass",
        "def f(Region: str = ''): pass",
    ],
)
def test_unsupported_parameters_are_a_developer_error_at_decoration(
    reports: Registry, signature: str
) -> None:
    namespace: dict[str, Any] = {"dt": dt, "Literal": Literal}
    exec(signature, namespace)
    with pytest.raises(TypeError):
        report("bad", registry=reports)(namespace["f"])
    assert "bad" not in reports


@pytest.mark.parametrize(
    "name", ["help", "list", "status", "history", "cancel", "schedule", "Sales", "", "-x", "a b", "x" * 41]
)
def test_reserved_or_malformed_names_are_refused(reports: Registry, name: str) -> None:
    with pytest.raises(ValueError):
        report(name, registry=reports)(lambda: "")


def test_a_name_taken_by_another_function_is_refused(reports: Registry) -> None:
    def first() -> str:
        return ""

    def second() -> str:
        return ""

    report("dup", registry=reports)(first)
    report("dup", registry=reports)(first)  # the same function again (a re-import) is fine
    with pytest.raises(ValueError, match="taken"):
        report("dup", registry=reports)(second)


def test_report_without_a_name_is_explained() -> None:
    misused: Any = report  # Any: a call without a name is the mistake under test, which mypy would refuse
    with pytest.raises(TypeError, match="needs a name"):
        misused(lambda: "")


def test_a_bad_time_limit_is_refused(reports: Registry) -> None:
    with pytest.raises(ValueError):
        report("slow", time_limit=0, registry=reports)(lambda: "")


def test_a_report_may_notify_only_when_it_says_so(reports: Registry) -> None:
    report("loud", notify=True, registry=reports)(lambda: "")
    report("calm", registry=reports)(lambda: "")
    assert [r.notify for r in (reports.require("loud"), reports.require("calm"))] == [True, False]
    yes: Any = "yes"  # Any: a str for the bool is the mistake under test, which mypy would refuse
    with pytest.raises(ValueError, match="notify"):
        report("odd", notify=yes, registry=reports)(lambda: "")


def test_a_sql_report_may_notify_only_when_reports_toml_says_notify_true(tmp_path: Path) -> None:
    from tasks.reports.sql import SqlReportError, load_sql_reports

    declared = """
    [reports.alerts]
    database = "sqlite:///{sample}"
    sql = "select 1"
    notify = true
    [reports.rows]
    database = "sqlite:///{sample}"
    sql = "select 1"
    """
    path = tmp_path / "reports.toml"
    path.write_text(declared)
    registry_ = Registry()
    load_sql_reports(path, registry_, {})
    assert [r.notify for r in (registry_.require("alerts"), registry_.require("rows"))] == [True, False]
    path.write_text(declared.replace("notify = true", 'notify = "yes"'))
    with pytest.raises(SqlReportError, match="notify"):
        load_sql_reports(path, Registry(), {})


# -- finding reports ------------------------------------------------------------------------


def test_all_is_sorted_by_name(reports: Registry) -> None:
    for name in ("zeta", "alpha", "mid"):
        report(name, registry=reports)(types.FunctionType((lambda: "").__code__, {}, name))
    assert [r.name for r in reports.all()] == ["alpha", "mid", "zeta"]
    assert len(reports) == 3


def test_an_unknown_report_suggests_the_closest_and_the_list_command(
    sales: Report, reports: Registry
) -> None:
    assert reports.suggest("salse") == ["sales"]
    with pytest.raises(UserError) as caught:
        reports.require("salse")
    assert (
        caught.value.message
        == "There is no report called `salse`. Did you mean `sales`? Try `/run-report list`."
    )


def test_an_unknown_report_name_is_escaped(reports: Registry) -> None:
    with pytest.raises(UserError) as caught:
        reports.require("<!channel>", command="/reports")
    assert "<" not in caught.value.message and "`/reports list`" in caught.value.message


# -- converting arguments -------------------------------------------------------------------


def test_no_arguments_gives_all_defaults(sales: Report) -> None:
    assert sales.convert_args({}) == {
        "region": "all",
        "days": 7,
        "since": None,
        "kind": "bar",
        "draft": False,
        "ratio": 1.0,
    }


def test_given_arguments_are_converted_and_defaults_fill_the_rest(sales: Report) -> None:
    args = sales.convert_args(
        {"days": "30", "since": "today-7d", "kind": "LINE", "draft": "Yes"}, today=TODAY
    )
    assert args == {
        "region": "all",
        "days": 30,
        "since": dt.date(2024, 5, 3),
        "kind": "line",
        "draft": True,
        "ratio": 1.0,
    }
    assert sales.run(args) == "all 30 2024-05-03 line True 1.0"


def test_an_unknown_argument_suggests_the_closest_and_lists_the_valid_ones(sales: Report) -> None:
    with pytest.raises(ArgumentError) as caught:
        sales.convert_args({"regoin": "emea"})
    message = caught.value.message
    assert "`regoin`" in message and "Did you mean `region`?" in message
    assert "`region`, `days`, `since`, `kind`, `draft`, `ratio`" in message


def test_a_report_without_arguments_says_so(reports: Registry) -> None:
    report("plain", registry=reports)(lambda: "")
    with pytest.raises(ArgumentError, match="takes no arguments"):
        reports.require("plain").convert_args({"x": "1"})


def test_a_missing_required_argument_is_named_with_its_form(reports: Registry) -> None:
    @report("since", registry=reports)
    def since_report(since: dt.date, region: str = "all") -> str:
        return ""

    with pytest.raises(ArgumentError) as caught:
        reports.require("since").convert_args({"region": "emea"})
    assert "`since=&lt;date YYYY-MM-DD&gt;`" in caught.value.message
    assert "`since since=2024-05-01`" in caught.value.message


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("days", "abc", "`days` must be a whole number, like `days=7`; you gave `abc`."),
        ("ratio", "1,5", "`ratio` must be a number, like `ratio=0.5`; you gave `1,5`."),
        ("draft", "maybe", "`draft` must be yes or no, like `draft=yes`; you gave `maybe`."),
        ("kind", "pie", "`kind` must be one of `bar` or `line`, like `kind=bar`; you gave `pie`."),
        ("days", "<!here>", "`days` must be a whole number, like `days=7`; you gave `&lt;!here&gt;`."),
    ],
)
def test_a_bad_value_names_the_argument_what_it_expects_and_what_was_given(
    sales: Report, name: str, raw: str, expected: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        param(sales, name).convert(raw)
    assert caught.value.message == expected


@pytest.mark.parametrize(("raw", "expected"), [("7", 7), ("-3", -3), ("+0", 0), (" 12 ", 12)])
def test_whole_numbers(sales: Report, raw: str, expected: int) -> None:
    assert param(sales, "days").convert(raw) == expected


@pytest.mark.parametrize("raw", ["1.5", "1e3", "١٢", "1_000", "", "99999999999999999999"])
def test_not_whole_numbers(sales: Report, raw: str) -> None:
    with pytest.raises(ArgumentError):
        param(sales, "days").convert(raw)


@pytest.mark.parametrize(("raw", "expected"), [("0.5", 0.5), ("2", 2.0), ("-1e3", -1000.0), (".25", 0.25)])
def test_numbers(sales: Report, raw: str, expected: float) -> None:
    assert param(sales, "ratio").convert(raw) == expected


@pytest.mark.parametrize("raw", ["nan", "inf", "1e999x", "one"])
def test_not_numbers(sales: Report, raw: str) -> None:
    with pytest.raises(ArgumentError):
        param(sales, "ratio").convert(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_yes_no_words(sales: Report, raw: str, expected: bool) -> None:
    assert param(sales, "draft").convert(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("today", TODAY),
        ("Today", TODAY),
        ("yesterday", dt.date(2024, 5, 9)),
        ("today-7d", dt.date(2024, 5, 3)),
        ("today+3d", dt.date(2024, 5, 13)),
        ("", None),
    ],
)
def test_dates(sales: Report, raw: str, expected: dt.date | None) -> None:
    assert param(sales, "since").convert(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "10/05/2024", "today-7", "today-999999d", "tomorrow", "2024-5-1"]
)
def test_not_dates_show_the_accepted_forms(sales: Report, raw: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        param(sales, "since").convert(raw, today=TODAY)
    assert "`since=today-7d`" in caught.value.message


def test_a_date_past_the_calendar_is_refused_not_crashed(sales: Report) -> None:
    with pytest.raises(ArgumentError):
        param(sales, "since").convert("today+1d", today=dt.date.max)


def test_describe_and_usage_read_as_help(sales: Report) -> None:
    assert sales.describe_args() == [
        "region=<text> (default: all)",
        "days=<whole number> (default: 7)",
        "since=<date YYYY-MM-DD> (optional)",
        "kind=bar|line (default: bar)",
        "draft=<yes|no> (default: no)",
        "ratio=<number> (default: 1.0)",
    ]
    assert sales.usage() == (
        "sales [region=<text>] [days=<whole number>] [since=<date YYYY-MM-DD>] [kind=bar|line] "
        "[draft=<yes|no>] [ratio=<number>]"
    )


def test_argument_errors_are_user_errors() -> None:
    assert issubclass(ArgumentError, UserError)


# -- loading --------------------------------------------------------------------------------


@pytest.fixture
def fake_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tasks.reports.builtin", types.ModuleType("tasks.reports.builtin"))


@pytest.mark.usefixtures("fake_builtin")
def test_load_reports_imports_the_listed_modules_and_returns_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported = types.ModuleType("acme_reports")
    monkeypatch.setitem(sys.modules, "acme_reports", imported)
    assert load_reports(["acme_reports", " ", ""]) is registry


@pytest.mark.usefixtures("fake_builtin")
def test_load_reports_names_a_module_that_fails_to_import() -> None:
    with pytest.raises(ImportError, match=r"'no_such_reports_module'.*REPORT_MODULES"):
        load_reports(["no_such_reports_module"])
