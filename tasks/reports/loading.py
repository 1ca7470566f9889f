"""Which reports a process has: the built-ins, the modules of ``REPORT_MODULES`` and the SQL
reports of ``REPORTS_FILE``, gathered into the one registry.

Above the registry and the report modules it imports (they import the registry, never this),
so that importing ``tasks.reports`` registers nothing until a process asks for its reports.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping

from tasks.reports._registry import Registry, registry


def load_reports(
    modules: Iterable[str],
    *,
    reports_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Registry:
    """Import the built-in reports and each module named in ``REPORT_MODULES``; return ``registry``.

    Importing a module runs its ``@report`` decorators, which is what registers them. A module
    that fails to import raises ``ImportError`` naming it, so a typo in the setting is obvious.
    ``reports_file`` (``REPORTS_FILE``) adds its SQL reports (``tasks.reports.sql``), with
    ``environ`` for ``${VAR}`` in their database URLs.
    """
    if reports_file:
        from tasks.reports.sql import load_sql_reports

        load_sql_reports(reports_file, registry, environ)
    import tasks.reports.builtin  # noqa: F401  (its decorators register the built-in reports)

    for module in modules:
        module = module.strip()
        if not module:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ImportError(
                f"cannot import report module {module!r} (listed in REPORT_MODULES): {type(exc).__name__}: {exc}",
                name=module,
            ) from exc
    return registry
