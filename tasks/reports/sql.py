"""Reports written in SQL, declared in the TOML file ``REPORTS_FILE``: no Python needed.

::

    [reports.sales-by-region]
    help = "Revenue by region"
    database = "postgresql://reader@db/shop"   # any SQLAlchemy URL; ${VAR} from the environment
    sql = "select region, sum(amount) as revenue from orders where day >= :since group by region"
    chart = { type = "bar", x = "region", y = "revenue" }
    [reports.sales-by-region.args]
    since = { type = "date", default = "today-7d", help = "first day" }

``channels``, ``users``, ``groups``, ``time_limit`` and ``notify`` (``true`` lets broadcast
mentions in its rows reach Slack live) mean what they mean for ``@report``.

Each ``[reports.<name>]`` becomes a ``Report`` like a decorated function's: its ``args`` are
typed and validated by the bot before anything is queued, and their values are **bound as SQL
parameters** (SQLAlchemy ``text()``), never put into the SQL text. Connections are read-only
where the database allows it (PostgreSQL: read-only transactions; SQLite: ``mode=ro`` and
``query_only``), pooled (one engine per database URL per process, made on first use, after
Celery's fork), and time-limited (PostgreSQL ``statement_timeout``; SQLite a progress handler).
Other tables of the file (``[schedules.*]``) belong to others and are ignored here.

``{sample}`` in a ``database`` URL is the small SQLite database of made-up orders that
reportbot makes itself (``tasks.reports.sample_data``), under the system's temporary directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import threading
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from tasks.errors import UserError
from tasks.logs import redact
from tasks.reports import sample_data
from tasks.reports._registry import KIND_TYPES, Param, Registry, Report
from tasks.reports.results import CHART_TYPES, Chart, Table

DEFAULT_TIMEOUT = 60.0  # seconds a query may run unless the report sets `time_limit`
MAX_ROWS = 100_000  # rows fetched; past it the result is cut, and the thread says so
SAMPLE = "{sample}"  # in a database URL: the made-up orders' SQLite file
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REPORT_KEYS = {
    "help",
    "database",
    "sql",
    "chart",
    "args",
    "time_limit",
    "channels",
    "users",
    "groups",
    "notify",
}
_ARG_KEYS = {"type", "default", "help", "choices"}

__all__ = ["SqlReport", "SqlReportError", "load_sql_reports", "query", "resolve_url"]


class SqlReportError(ValueError):
    """``REPORTS_FILE`` declares a report that cannot work; the message names file and report."""


class QueryFailed(RuntimeError):
    """The database refused or failed the query (the report author's to fix, not the user's)."""


@dataclasses.dataclass(frozen=True)
class SqlReport:
    """The callable behind a SQL report: binds the arguments ``Report.convert_args`` made
    (defaults included) and runs the query."""

    name: str
    database: str
    sql: str
    chart: Mapping[str, Any] | None
    timeout: float
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __call__(self, **values: Any) -> Table | list[Any]:
        url = resolve_url(self.database, self.environ, self.name)
        table, cut = query(
            url, self.sql, values, self.timeout, secrets=url_secrets(self.database, self.environ)
        )
        parts: list[Any] = [table]
        if cut:
            parts.insert(
                0,
                f":warning: The result was cut at {MAX_ROWS:,} rows: the table and its CSV hold "
                "only the first ones. Aggregate or filter in the SQL to see all of it.",
            )
        if self.chart and table.rows:
            parts.append(
                Chart(
                    table,
                    type=self.chart["type"],
                    x=self.chart.get("x"),
                    y=self.chart.get("y"),
                    title=self.chart.get("title"),
                )
            )
        return parts if len(parts) > 1 else table


def resolve_url(database: str, environ: Mapping[str, str], report: str = "") -> str:
    """``${VAR}`` in a database URL replaced from ``environ`` (a password, a host), URL-encoded
    so that ``@``, ``/`` or ``:`` in a password stay in the password; ``{sample}`` by the
    sample database's path."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise QueryFailed(
                f"the database URL of {report or 'this report'} needs ${{{name}}}, which is not set"
            )
        return quote(environ[name], safe="")

    url = _VAR.sub(value, database)
    return url.replace(SAMPLE, quote(str(sample_data.SAMPLE_PATH), safe="/"))


def url_secrets(database: str, environ: Mapping[str, str]) -> list[str]:
    """The values ``${VAR}`` put into the URL, as given and URL-encoded: never to be shown."""
    values = {environ[name] for name in _VAR.findall(database) if environ.get(name)}
    found = values | {quote(value, safe="") for value in values}
    return sorted(found, key=len, reverse=True)


# ------------------------------------------------------------------------------ running queries

_engines: dict[str, Any] = {}
_engines_lock = threading.Lock()
_sample_urls: set[str] = set()  # engines' URLs that name the sample database


def _engine(url_text: str) -> Any:
    """One pooled engine per database URL in this process, made on first use.

    The sample database is checked on every query (one small read): when the day has changed
    it is rebuilt, and the engine's pooled connections, still on the old file, are closed.
    """
    with _engines_lock:
        engine = _engines.get(url_text)
        if engine is None:
            engine = _engines[url_text] = _make_engine(url_text)
        elif url_text in _sample_urls and _fresh_sample():
            engine.dispose()
        return engine


def _fresh_sample() -> bool:
    """Make the sample database current; whether it had to be rebuilt. ``QueryFailed`` if it cannot be."""
    path = sample_data.SAMPLE_PATH
    try:
        if sample_data.is_current(path):
            return False
        sample_data.ensure_sample_db(path)
    except (OSError, sqlite3.Error) as error:
        raise QueryFailed(f"cannot make the sample database at {path}: {error}") from error
    return True


def _make_engine(url_text: str) -> Any:
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    url = make_url(url_text)
    backend = url.get_backend_name()
    if backend == "postgresql":
        if "+" not in url.drivername:
            url = url.set(drivername="postgresql+psycopg")  # the driver we ship, not psycopg2
        return create_engine(
            url,
            pool_size=2,
            max_overflow=3,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"options": "-c default_transaction_read_only=on", "connect_timeout": 10},
        )
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            if Path(database).resolve() == Path(sample_data.SAMPLE_PATH).resolve():
                _fresh_sample()
                _sample_urls.add(url_text)
            url = url.set(database=f"file:{database}", query={**url.query, "mode": "ro", "uri": "true"})
        engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute("pragma query_only = on")
            info = record.info
            dbapi_connection.set_progress_handler(
                lambda: 1 if time.monotonic() > info.get("deadline", float("inf")) else 0, 10_000
            )

        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800)


def query(
    url: str,
    sql: str,
    values: Mapping[str, Any],
    timeout: float = DEFAULT_TIMEOUT,
    secrets: list[str] | None = None,
) -> tuple[Table, bool]:
    """Run one SELECT with ``values`` bound as parameters: its rows as a Table, and whether
    they were cut at ``MAX_ROWS``.

    Read-only and time-limited where the database allows; ``UserError`` when the time limit
    stopped it, ``QueryFailed`` with the database's own words for anything else, each of
    ``secrets`` (the URL's ``${VAR}`` values) in them replaced by ``[redacted]``: the worker's
    log has it, the thread only its kind (a ``UserError``'s message is the one shown).
    """
    from sqlalchemy import exc, text

    def hidden(message: str) -> str:
        # Every ``${VAR}`` value of the URL is a secret, however short: it was set to be one.
        return redact(message, secrets or (), min_length=1)

    try:
        engine = _engine(url)
        backend = engine.dialect.name
        if backend == "sqlite":  # sqlite3 has no date type: dates compare as ISO text
            values = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(text("set transaction read only"))
                conn.execute(
                    text("select set_config('statement_timeout', :ms, true)"),
                    {"ms": str(int(timeout * 1000))},
                )
            elif backend == "sqlite":
                conn.connection.info["deadline"] = time.monotonic() + timeout
            try:
                result = conn.execute(text(sql), dict(values))
                columns = list(result.keys())
                rows = result.fetchmany(MAX_ROWS + 1) if result.returns_rows else []
            finally:
                conn.connection.info.pop("deadline", None)
                conn.rollback()
    except exc.DBAPIError as error:
        if _timed_out(error):
            raise UserError(f"The query ran longer than {timeout:g} seconds and was stopped.") from error
        detail = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
        raise QueryFailed(hidden(f"the database refused the query: {detail}")) from error
    except exc.SQLAlchemyError as error:
        raise QueryFailed(hidden(f"cannot use the database: {str(error).splitlines()[0]}")) from error
    except QueryFailed as error:
        raise QueryFailed(hidden(str(error))) from error
    return Table(columns, [tuple(row) for row in rows[:MAX_ROWS]]), len(rows) > MAX_ROWS


def _timed_out(error: Any) -> bool:
    orig = error.orig
    if type(orig).__name__ == "QueryCanceled":  # psycopg: statement_timeout
        return True
    return "interrupted" in str(orig).lower()  # sqlite3: the progress handler stopped it


# ------------------------------------------------------------------------------ loading the file


def load_sql_reports(
    path: str | Path, registry: Registry, environ: Mapping[str, str] | None = None
) -> list[Report]:
    """Add the ``[reports.*]`` of the TOML file at ``path`` to ``registry``; a missing file has none.

    ``SqlReportError`` names the file and the report for anything that would only fail later.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SqlReportError(f"{path}: not valid TOML: {error}") from error
    declared = document.get("reports", {})
    if not isinstance(declared, dict):
        raise SqlReportError(f"{path}: `reports` must be a table of [reports.<name>] tables")
    added = []
    for name, spec in declared.items():
        try:
            report = build_report(name, spec, environ or {})
            added.append(registry.add(report))
        except (SqlReportError, ValueError, TypeError) as error:
            raise SqlReportError(f"{path}: [reports.{name}]: {error}") from error
    return added


def build_report(name: str, spec: Any, environ: Mapping[str, str]) -> Report:
    """One ``[reports.<name>]`` table as a ``Report``."""
    if not isinstance(spec, dict):
        raise SqlReportError("must be a table with `database` and `sql`")
    unknown = set(spec) - _REPORT_KEYS
    if unknown:
        raise SqlReportError(f"unknown keys {sorted(unknown)}; known: {sorted(_REPORT_KEYS)}")
    database, sql = spec.get("database"), spec.get("sql")
    if not isinstance(database, str) or not database:
        raise SqlReportError('needs `database`, a SQLAlchemy URL like "postgresql://reader@db/shop"')
    if not isinstance(sql, str) or not sql.strip():
        raise SqlReportError("needs `sql`, the query, with :name for each argument")
    args = spec.get("args", {})
    if not isinstance(args, dict):
        raise SqlReportError("`args` must be a table of name = { type = ..., default = ... }")
    params = tuple(_param(arg, arg_spec) for arg, arg_spec in args.items())
    _check_binds(sql, [p.name for p in params])
    chart = _chart(spec.get("chart"))
    helps = [f"{arg}: {arg_spec['help']}" for arg, arg_spec in args.items() if arg_spec.get("help")]
    help_text = str(spec.get("help", ""))
    if helps:
        help_text = f"{help_text} ({'; '.join(helps)})" if help_text else "; ".join(helps)
    checked = Report.make(
        name=name,
        func=SqlReport.__call__,  # replaced below, once time_limit is checked
        help=help_text,
        params=params,
        channels=spec.get("channels", ()),
        users=spec.get("users", ()),
        groups=spec.get("groups", ()),
        time_limit=spec.get("time_limit"),
        notify=spec.get("notify", False),
    )
    func = SqlReport(
        name=name,
        database=database,
        sql=sql,
        chart=chart,
        timeout=checked.time_limit or DEFAULT_TIMEOUT,
        environ=dict(environ),
    )
    return dataclasses.replace(checked, func=func)


def _param(name: str, spec: Any) -> Param:
    if not isinstance(spec, dict):
        raise SqlReportError(f'argument {name!r} must be a table like {{ type = "str", default = "all" }}')
    unknown = set(spec) - _ARG_KEYS
    if unknown:
        raise SqlReportError(f"argument {name!r}: unknown keys {sorted(unknown)}; known: {sorted(_ARG_KEYS)}")
    kind = spec.get("type", "str")
    choices = spec.get("choices")
    if kind == "choice" or choices is not None:
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise SqlReportError(f"argument {name!r}: `choices` must be a list of strings")
        annotation: Any = Literal[tuple(choices)]
    elif kind in KIND_TYPES:
        annotation = KIND_TYPES[kind]
    else:
        raise SqlReportError(
            f"argument {name!r}: type {kind!r} is not one of {', '.join([*KIND_TYPES, 'choice'])}"
        )
    param = Param.build(name, annotation)
    if "default" not in spec:
        return param
    default = spec["default"]
    if param.kind == "date" and isinstance(default, dt.date):
        default = default.isoformat()
    raw = ("yes" if default else "no") if isinstance(default, bool) else str(default)
    try:
        checked = param.convert(raw)
    except UserError as error:
        raise SqlReportError(
            f"argument {name!r}: default {default!r} does not fit its type ({error.message})"
        ) from error
    # A date default stays as typed (today-7d): Report.convert_args counts it from the day the report runs.
    return Param.build(name, annotation, raw if param.kind == "date" else checked)


def _check_binds(sql: str, names: list[str]) -> None:
    from sqlalchemy import text

    binds = set(text(sql)._bindparams)  # the :name placeholders SQLAlchemy will bind
    missing = sorted(binds - set(names))
    if missing:
        raise SqlReportError(
            f"the sql uses {', '.join(':' + m for m in missing)} but `args` does not declare it"
        )
    unused = sorted(set(names) - binds)
    if unused:
        raise SqlReportError(f"`args` declares {', '.join(unused)} but the sql never uses :{unused[0]}")


def _chart(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type", "bar") not in CHART_TYPES:
        raise SqlReportError(
            f'`chart` must be like {{ type = "bar", x = "col", y = "col" }}; type one of {", ".join(CHART_TYPES)}'
        )
    return {
        "type": spec.get("type", "bar"),
        "x": spec.get("x"),
        "y": spec.get("y"),
        "title": spec.get("title"),
    }
