"""SQL reports from TOML, against SQLite and the PostgreSQL server on this machine."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.errors import UserError
from tasks.reports import ArgumentError, Registry, Table
from tasks.reports.results import Chart
from tasks.reports.sample_data import ensure_sample_db, sample_orders
from tasks.reports.sql import QueryFailed, SqlReportError, load_sql_reports

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
INJECTION = "x'; drop table orders; --"


def load(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Registry:
    path = tmp_path / "reports.toml"
    path.write_text(toml)
    registry = Registry()
    load_sql_reports(path, registry, environ or {})
    return registry


def run(registry: Registry, name: str, **args: str) -> Any:
    """What the report returns: a table alone, or ``[table, chart]``; each test says which it expects."""
    report = registry.get(name)
    assert report is not None
    return report.run(report.convert_args(args))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table orders (day text, region text, amount real)")
        conn.executemany(
            "insert into orders values (?, ?, ?)",
            [("2024-05-01", "emea", 10.0), ("2024-05-02", "emea", 5.5), ("2024-05-02", "apac", 7.0)],
        )
    return db


def shop_toml(db: Path, extra: str = "") -> str:
    return f"""
[reports.by-region]
help = "Revenue by region"
database = "sqlite:///{db}"
sql = "select region, sum(amount) as revenue from orders where day >= :since and region like :region group by region order by region"
chart = {{ type = "bar", x = "region", y = "revenue" }}
{extra}
[reports.by-region.args]
since = {{ type = "date", default = "2024-05-02", help = "first day" }}
region = {{ type = "str", default = "%" }}

[schedules.nightly]
report = "by-region"
"""


@pytest.mark.unit
def test_a_toml_report_runs_its_query_and_returns_a_table_and_its_chart(shop: Path, tmp_path: Path) -> None:
    registry = load(tmp_path, shop_toml(shop))
    report = registry.get("by-region")
    assert report is not None and "Revenue by region" in report.help and "first day" in report.help
    table, chart = run(registry, "by-region", since="2024-05-01")
    assert isinstance(table, Table) and table.columns == ("region", "revenue")
    assert table.rows == (("apac", 7.0), ("emea", 15.5))
    assert isinstance(chart, Chart) and chart.x == "region" and chart.y == ("revenue",)
    defaulted, _ = run(registry, "by-region")
    assert defaulted.rows == (("apac", 7.0), ("emea", 5.5))  # since defaults to 2024-05-02


@pytest.mark.unit
def test_arguments_are_validated_by_type_before_anything_runs(shop: Path, tmp_path: Path) -> None:
    report = load(tmp_path, shop_toml(shop)).get("by-region")
    assert report is not None
    with pytest.raises(ArgumentError, match="must be a date"):
        report.convert_args({"since": "last tuesday"})
    with pytest.raises(ArgumentError, match="has no argument"):
        report.convert_args({"sine": "today"})


@pytest.mark.unit
def test_an_injection_attempt_through_an_argument_is_just_a_value(shop: Path, tmp_path: Path) -> None:
    registry = load(tmp_path, shop_toml(shop))
    result = run(registry, "by-region", since="2024-01-01", region=INJECTION)
    assert isinstance(result, Table) and result.rows == ()
    with sqlite3.connect(shop) as conn:
        assert conn.execute("select count(*) from orders").fetchone() == (3,)


@pytest.mark.unit
def test_sqlite_connections_are_read_only(tmp_path: Path, shop: Path) -> None:
    registry = load(
        tmp_path,
        f"""
[reports.wipe]
database = "sqlite:///{shop}"
sql = "delete from orders"
""",
    )
    with pytest.raises(QueryFailed, match="readonly|read-only|read only"):
        run(registry, "wipe")
    with sqlite3.connect(shop) as conn:
        assert conn.execute("select count(*) from orders").fetchone() == (3,)


@pytest.mark.unit
def test_a_slow_sqlite_query_is_stopped_at_its_time_limit(tmp_path: Path, shop: Path) -> None:
    registry = load(
        tmp_path,
        f"""
[reports.forever]
database = "sqlite:///{shop}"
time_limit = 0.5
sql = "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
""",
    )
    with pytest.raises(UserError, match="longer than 0.5 seconds"):
        run(registry, "forever")


@pytest.mark.unit
def test_database_urls_take_variables_from_the_given_environment(tmp_path: Path, shop: Path) -> None:
    toml = f"""
[reports.env]
database = "sqlite:///${{SHOP_DIR}}/{shop.name}"
sql = "select count(*) as n from orders"
"""
    registry = load(tmp_path, toml, {"SHOP_DIR": str(shop.parent)})
    assert run(registry, "env").rows == ((3,),)
    with pytest.raises(QueryFailed, match=r"needs \$\{SHOP_DIR\}"):
        run(load(tmp_path, toml, {}), "env")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[reports.x]\nsql = "select 1"', "needs `database`"),
        ('[reports.x]\ndatabase = "sqlite://"\nsql = "select :a"', "uses :a but `args` does not declare it"),
        (
            '[reports.x]\ndatabase = "sqlite://"\nsql = "select 1"\nargs = { a = { type = "int" } }',
            "never uses :a",
        ),
        (
            '[reports.x]\ndatabase = "sqlite://"\nsql = "select :a"\nargs = { a = { type = "when" } }',
            "type 'when'",
        ),
        (
            '[reports.x]\ndatabase = "sqlite://"\nsql = "select :a"\nargs = { a = { type = "int", default = "many" } }',
            "does not fit",
        ),
        ('[reports.x]\ndatabase = "sqlite://"\nsql = "select 1"\nchart = { type = "radar" }', "chart"),
        ('[reports.list]\ndatabase = "sqlite://"\nsql = "select 1"', "word of the command"),
        ("[reports.x\n", "not valid TOML"),
    ],
)
def test_a_broken_declaration_is_refused_at_start_naming_file_and_report(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(SqlReportError, match=message) as info:
        load(tmp_path, toml)
    assert "reports.toml" in str(info.value)


@pytest.mark.unit
def test_a_missing_reports_file_means_no_sql_reports(tmp_path: Path) -> None:
    assert load_sql_reports(tmp_path / "nope.toml", Registry()) == []


@pytest.mark.unit
def test_the_shipped_reports_show_a_table_and_a_chart_over_the_made_up_orders(tmp_path: Path) -> None:
    registry = Registry()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        names = [r.name for r in load_sql_reports(ROOT / "reports.toml", registry, {})]
        assert names == ["sales-by-region", "orders", "sales"]
        table, chart = run(registry, "sales-by-region")
        assert {row[0] for row in table.rows} == {"emea", "amer", "apac", "latam"}
        assert isinstance(chart, Chart)
        orders = run(registry, "orders", region="apac")
        assert isinstance(orders, Table) and orders.rows and {row[2] for row in orders.rows} == {"apac"}
        sales, _ = run(registry, "sales", region="emea", title="two words")
        assert sales.rows and {row[0] for row in sales.rows} == {"two words"}
    finally:
        os.chdir(cwd)


@pytest.mark.unit
def test_the_sample_database_is_deterministic_and_recent(tmp_path: Path) -> None:
    today = dt.date(2026, 3, 1)
    path = ensure_sample_db(tmp_path / "s.sqlite", today)
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*), max(day) from orders").fetchone() == (
            len(sample_orders(today)),
            "2026-03-01",
        )
    assert sample_orders(today) == sample_orders(today)


# ----------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_table() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    name = f"orders_{uuid.uuid4().hex[:8]}"
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is not answering: {exc}")
    conn.execute(f"create table {name} (day date, region text, amount numeric(10, 2))")
    conn.execute(
        f"insert into {name} values ('2024-05-01', 'emea', 10), ('2024-05-02', 'emea', 5.5), ('2024-05-02', 'apac', 7)"
    )
    yield name
    conn.execute(f"drop table if exists {name}")
    conn.close()


def pg_toml(table: str, sql: str | None = None, extra: str = "") -> str:
    sql = (
        sql
        or f"select region, sum(amount) as revenue from {table} where day >= :since and region like :region group by region order by region"
    )
    return f'''
[reports.pg]
database = "{PG_URL}"
sql = "{sql}"
{extra}
[reports.pg.args]
since = {{ type = "date", default = "today-7d" }}
region = {{ type = "str", default = "%" }}
'''


def test_postgresql_binds_dates_and_returns_numbers(tmp_path: Path, pg_table: str) -> None:
    import decimal

    registry = load(tmp_path, pg_toml(pg_table))
    table = run(registry, "pg", since="2024-05-02")
    assert isinstance(table, Table)
    assert table.rows == (("apac", decimal.Decimal("7.00")), ("emea", decimal.Decimal("5.50")))


def test_postgresql_injection_attempt_changes_nothing(tmp_path: Path, pg_table: str) -> None:
    import psycopg

    registry = load(tmp_path, pg_toml(pg_table))
    table = run(registry, "pg", since="2024-01-01", region=f"x'; drop table {pg_table}; --")
    assert isinstance(table, Table) and table.rows == ()
    with psycopg.connect(PG_URL) as conn:
        assert conn.execute(f"select count(*) from {pg_table}").fetchone() == (3,)


def test_postgresql_connections_are_read_only(tmp_path: Path, pg_table: str) -> None:
    import psycopg

    sql = f"delete from {pg_table} where day >= :since and region like :region returning region"
    with pytest.raises(QueryFailed, match="read-only"):
        run(load(tmp_path, pg_toml(pg_table, sql)), "pg", since="2000-01-01")
    with psycopg.connect(PG_URL) as conn:
        assert conn.execute(f"select count(*) from {pg_table}").fetchone() == (3,)


def test_a_slow_postgresql_query_is_stopped_at_its_time_limit(tmp_path: Path, pg_table: str) -> None:
    sql = "select pg_sleep(5), cast(:since as date) as d, :region as r"
    with pytest.raises(UserError, match="longer than 0.5 seconds"):
        run(load(tmp_path, pg_toml(pg_table, sql, "time_limit = 0.5")), "pg")


@pytest.mark.unit
def test_a_date_default_counts_from_the_day_the_report_runs(shop: Path, tmp_path: Path) -> None:
    toml = shop_toml(shop).replace('default = "2024-05-02"', 'default = "today-7d"')
    report = load(tmp_path, toml).get("by-region")
    assert report is not None
    args = report.convert_args({}, today=dt.date(2024, 5, 9))
    assert args == {"since": dt.date(2024, 5, 2), "region": "%"}
    table, _ = report.run(args)
    assert table.rows == (("apac", 7.0), ("emea", 5.5))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "expected"), [('"C0FIN"', ("C0FIN",)), ('["C0FIN", "C0OPS"]', ("C0FIN", "C0OPS"))]
)
def test_channels_users_and_groups_are_a_name_or_a_list_of_names(
    tmp_path: Path, value: str, expected: tuple
) -> None:
    toml = f'[reports.x]\ndatabase = "sqlite://"\nsql = "select 1"\nchannels = {value}\nusers = {value}\ngroups = {value}'
    report = load(tmp_path, toml).get("x")
    assert report is not None and report.channels == report.users == report.groups == expected


@pytest.mark.unit
@pytest.mark.parametrize("value", ["7", "[1, 2]", '["C0FIN", 3]', "{ a = 1 }"])
def test_channels_that_are_not_names_are_refused_at_start(tmp_path: Path, value: str) -> None:
    with pytest.raises(SqlReportError, match="`channels` must be"):
        load(tmp_path, f'[reports.x]\ndatabase = "sqlite://"\nsql = "select 1"\nchannels = {value}')


@pytest.mark.unit
def test_a_result_past_the_row_limit_is_cut_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.rendering import messages as rendering
    from tasks.reports import sql

    monkeypatch.setattr(sql, "MAX_ROWS", 5)
    registry = load(
        tmp_path,
        """
[reports.many]
database = "sqlite://"
sql = "with recursive n(i) as (select 1 union all select i + 1 from n where i < 9) select i from n"
""",
    )
    result = run(registry, "many")
    rendered = rendering.render_result(result, name="many")
    assert "cut at 5 rows" in rendered.text
    assert rendered.files[0].content.count(b"\r\n") == 6  # the header and the 5 rows


@pytest.mark.unit
def test_the_sample_database_is_made_in_the_temp_dir_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a read-only root filesystem: nothing can be made under the working directory.
    (tmp_path / "data").write_text("not a directory")
    monkeypatch.chdir(tmp_path)
    registry = Registry()
    load_sql_reports(ROOT / "reports.toml", registry, {})
    table, _ = run(registry, "sales-by-region")
    assert {row[0] for row in table.rows} == {"emea", "amer", "apac", "latam"}


@pytest.mark.unit
def test_the_sample_database_is_rebuilt_when_a_query_finds_it_from_an_earlier_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.reports import sample_data

    sample = tmp_path / "sample.sqlite"
    monkeypatch.setattr(sample_data, "SAMPLE_PATH", sample)
    registry = Registry()
    load_sql_reports(ROOT / "reports.toml", registry, {})
    table, _ = run(registry, "sales-by-region", since="today")
    assert table.rows  # some orders every day, today's too
    ensure_sample_db(sample, dt.date(2020, 1, 1))  # the worker kept running past midnight
    table, _ = run(registry, "sales-by-region", since="today")
    assert table.rows


@pytest.mark.unit
def test_a_sample_database_that_cannot_be_made_is_a_query_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.reports import sample_data

    (tmp_path / "file").write_text("")
    monkeypatch.setattr(sample_data, "SAMPLE_PATH", tmp_path / "file" / "sample.sqlite")
    registry = Registry()
    load_sql_reports(ROOT / "reports.toml", registry, {})
    with pytest.raises(QueryFailed, match="cannot make the sample database"):
        run(registry, "orders")


def test_a_password_with_url_characters_works_and_never_shows_in_errors(
    tmp_path: Path, pg_table: str
) -> None:
    url = PG_URL.replace("postgres@", "postgres:${PGPASS}@")  # trust auth: any password is accepted
    toml = pg_toml(pg_table).replace(PG_URL, url)
    environ = {"PGPASS": "hunter@2secret/?#"}
    table = run(load(tmp_path, toml, environ), "pg", since="2024-05-02")
    assert isinstance(table, Table) and len(table.rows) == 2
    wrong_db = toml.replace("/test", "/${PGDB}")
    with pytest.raises(QueryFailed) as info:
        run(load(tmp_path, wrong_db, {**environ, "PGDB": "no-such-db-hunter2"}), "pg")
    assert "[redacted]" in str(info.value)
    assert "hunter" not in str(info.value) and "2secret" not in str(info.value)
