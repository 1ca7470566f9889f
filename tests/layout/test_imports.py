"""Importing a module builds nothing: no settings read, no Celery app, no signal connected.

Each check runs in a fresh interpreter, so what this test session imported does not count.
`tasks.celery` is the one module whose import builds the app (it is what `celery -A tasks`
finds), and it is left out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit  # fresh interpreters, no service

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "tasks", "sandbox")
BUILDS_THE_APP = "tasks.celery"


def modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name != BUILDS_THE_APP:
                names.append(name)
    return names


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_pure_module_imports_without_celery() -> None:
    done = run(
        "import sys, tasks.slack.mrkdwn, tasks.rendering.messages; print(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu', 'redis')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_submodule_is_what_its_name_says() -> None:
    # The package no longer reuses its submodules' names for objects it builds.
    done = run("import tasks.settings as s; print(type(s).__name__, s.__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module tasks.settings"


def test_every_module_imports_with_broken_settings_and_connects_nothing() -> None:
    # A setting that load_settings() refuses: any module that reads settings at import fails.
    code = (
        "import importlib, celery.signals as s\n"
        f"for name in {modules()!r}: importlib.import_module(name)\n"
        "hooked = [n for n in dir(s) if isinstance(getattr(s, n), s.Signal) and getattr(s, n).receivers]\n"
        "print(hooked)\n"
    )
    done = run(code, LOG_FORMAT="xml", REDIS_URL="nonsense://", CELERY_BROKER_URL="nonsense://")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_bad_setting_is_one_line_from_run_py_and_from_celery() -> None:
    for argv in (["run.py", "help"], ["-m", "celery", "-A", "tasks", "worker"]):
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "xml"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.startswith("reportbot: ") and "LOG_FORMAT" in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, (argv, done.stderr)
