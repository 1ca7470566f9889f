"""What a Celery worker (and beat) process sets up at start: our logging, and a metrics endpoint.

Hooked on Celery's signals, so `celery -A tasks worker` gets the same as `python run.py worker`:

- `setup_logging`: Celery leaves logging to us (`tasks.logs`: text or one JSON object a line,
  the job id on every line, secrets redacted) instead of installing its own handlers;
- `celeryd_init`: the same logging before Celery's first warning; with LOG_FORMAT=json the
  start-up banner is not printed (it is not JSON);
- `celeryd_after_setup`: print() in a report still goes to the log, as Celery would do itself;
- `worker_init`: in the worker's main process, before the pool forks, load the reports once for
  every pool process; switch prometheus_client to multiprocess mode and serve `/metrics` (all
  children added up) and `/healthz` on WORKER_METRICS_PORT (0 turns it off).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from typing import Any

from celery import signals

from tasks.logs import configure_logging
from tasks.metrics import monitoring_app, serve_monitoring
from tasks.worker.runtime import Runtime

log = logging.getLogger(__name__)


def connect_signals(runtime: Runtime) -> None:
    """Connect this module's receivers. They read `runtime.settings` when they fire, so a process
    that reconfigures its runtime first (local mode) is started with what it configured."""

    def setup_logging(**_: Any) -> None:
        configure_logging(runtime.settings)

    def worker_starting(instance: Any = None, **_: Any) -> None:
        # Before Celery's first warnings, so they come out in our format too.
        configure_logging(runtime.settings)
        if runtime.settings.log_format == "json" and instance is not None:
            instance.quiet = True

    def redirect_prints(instance: Any = None, **_: Any) -> None:
        if instance is not None and getattr(instance, "redirect_stdouts", False):
            instance.app.log.redirect_stdouts(instance.redirect_stdouts_level)

    def before_fork(**_: Any) -> None:
        if runtime.settings.worker_metrics_port:
            serve_metrics(runtime.settings.worker_metrics_port)
        # The reports (and what they import: SQLAlchemy for SQL reports) are loaded once, here,
        # and every pool process inherits them. Loaded in each child instead, they would be
        # paid again each time a child is replaced (worker_max_memory_per_child). A report
        # that fails to load is logged by Celery, and each job of it says so when it runs.
        runtime.registry  # noqa: B018

    for signal, receiver in (
        (signals.setup_logging, setup_logging),
        (signals.celeryd_init, worker_starting),
        (signals.celeryd_after_setup, redirect_prints),
        (signals.worker_init, before_fork),
    ):
        signal.connect(receiver, weak=False)


def _multiprocess_registry() -> Any:
    """Point prometheus_client at a fresh directory shared with the children to be forked."""
    from prometheus_client import CollectorRegistry, multiprocess, values

    path = tempfile.mkdtemp(prefix="reportbot-metrics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    # prometheus_client's own switch; the children inherit it with the rest of the environment.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


def _alive() -> tuple[bool, dict[str, Any]]:
    """The worker's main process answers /healthz while it runs; its pid says which one."""
    return True, {"pid": os.getpid()}


def serve_metrics(port: int) -> None:
    """The worker's metrics, all its pool processes added up, and its /healthz."""
    serve_monitoring(monitoring_app(_alive, _multiprocess_registry()), port, "WORKER_METRICS_PORT")
