"""The worker's Celery app, built from settings: configuration, the job task, the signals.

`tasks.celery` builds one from the environment for `celery -A tasks worker|beat|flower`,
`python run.py worker|beat|flower` one from the settings it has loaded (both through `app_for`),
and the local mode one from its own settings. Each app carries the
`Runtime` its task and beat use, so nothing here is global to the process but Celery's
signals, which `build_worker_app` connects for the app it builds.
"""

from __future__ import annotations

import os
import sys

import click
from celery import Celery

from tasks.settings import Settings, SettingsError, load_settings
from tasks.worker.celery_config import celery_config
from tasks.worker.execution import register_tasks
from tasks.worker.lost_jobs import close_overdue
from tasks.worker.process import connect_signals
from tasks.worker.runtime import Runtime


class WorkerApp(Celery):
    """A Celery app with the runtime (settings, store, Slack client, reports) its jobs run with."""

    runtime: Runtime

    def close_overdue(self, holder: str = "beat") -> int:
        """Close the jobs left running past their deadline (`tasks.worker.lost_jobs`): what beat's
        leader does every so often, through the app it runs with."""
        return close_overdue(self.runtime, holder=holder)


def build_worker_app(settings: Settings) -> WorkerApp:
    """The worker's app for `settings`: its task registered and the worker's signals connected."""
    app = WorkerApp("reportbot")
    app.conf.update(celery_config(settings))
    app.runtime = Runtime(settings)
    register_tasks(app, app.runtime)
    connect_signals(app.runtime)
    return app


def flower_environment(settings: Settings) -> None:
    """Refuse Flower without credentials, then hand them to it through its own variables.

    Flower can revoke and kill tasks, so it is never served without a password. Passed as
    FLOWER_* variables rather than options, the password stays out of `ps` (it may have come
    from .env).
    """
    auth = settings.require("flower_basic_auth").flower_basic_auth
    if ":" not in auth:
        raise SettingsError("FLOWER_BASIC_AUTH must be user:password (several: comma-separated)")
    os.environ["FLOWER_BASIC_AUTH"] = auth
    os.environ.setdefault("FLOWER_PORT", str(settings.flower_port))


def app_for(settings: Settings, process: str | None) -> WorkerApp:
    """The app a `worker`, `beat` or `flower` process starts, however it was started: Flower
    only with its password. Raises SettingsError when a setting it needs is wrong."""
    if process == "flower":
        flower_environment(settings)
    return build_worker_app(settings)


def app_from_environment() -> WorkerApp:
    """The app `celery -A tasks` starts: settings from the environment, checked as run.py checks
    them. A setting that is wrong ends the process with one line and exit status 2."""
    try:
        return app_for(load_settings(), _celery_subcommand())
    except SettingsError as exc:
        print(f"reportbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _celery_subcommand() -> str | None:
    """`flower` under `celery -A tasks flower`: Celery loads the app inside its command group,
    where click already knows which sub-command follows."""
    context = click.get_current_context(silent=True)
    return context.invoked_subcommand if context is not None else None
