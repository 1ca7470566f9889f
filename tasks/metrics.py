"""The workers' Prometheus metrics: job durations and outcomes, Slack API errors and retries.

Every metric here has labels, so its values are created on first use, in the process that uses
them. That is what lets a prefork worker switch prometheus_client to multiprocess mode in its
main process at start (`tasks.worker.process`), before the pool forks: each child then writes
its own file, and the main process's endpoint adds them up. In the bot, the same metrics simply
land in the default registry next to `bot.metrics` and are served at its /metrics.

Beat's metrics (runs fired, skipped, lost to another beat, refused by the broker; who leads)
have no labels and live in a registry of their own, `BEAT_REGISTRY`: only a beat serves them,
and they are not zeros on the bot's or a worker's /metrics.

`monitoring_app` is the one small WSGI app that answers health checks and Prometheus scrapes,
for the bot (next to Slack's requests), for each worker (on WORKER_METRICS_PORT) and for each
beat (on BEAT_METRICS_PORT, by `serve_monitoring`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

#: A process's health: whether it can serve, and details for whoever reads /healthz.
Health = Callable[[], tuple[bool, dict[str, Any]]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

JOB_SECONDS = Histogram(
    "reportbot_job_seconds",
    "Time a report ran, from picked up to result, by report and outcome",
    ["report", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0),
)
JOBS = Counter("reportbot_jobs_total", "Jobs a worker finished, by report and outcome", ["report", "outcome"])
SLACK_API_ERRORS = Counter(
    "reportbot_slack_api_errors_total",
    "Slack Web API calls that failed (after retries), by method and Slack's error code",
    ["method", "error"],
)
SLACK_RETRIES = Counter(
    "reportbot_slack_retries_total",
    "Slack calls retried, by reason: by slack_sdk's retry handlers, or (ratelimited, in workers) "
    "by handing the job back to the queue until Retry-After has passed",
    ["reason"],
)
JOB_RETRIES = Counter(
    "reportbot_job_retries_total",
    "Jobs handed back to the queue to be retried later, by reason: ratelimited (Slack answered "
    "429), paced (the job waits for its channel while Slack is limiting us, tasks.slack.pacing) or error",
    ["reason"],
)


BEAT_REGISTRY = CollectorRegistry()
BEAT_RUNS_FIRED = Counter(
    "reportbot_beat_runs_fired_total", "Scheduled runs this beat published as jobs", registry=BEAT_REGISTRY
)
BEAT_RUNS_SKIPPED = Counter(
    "reportbot_beat_runs_skipped_total",
    "Scheduled runs skipped: missed by more than their misfire grace (beat was down or stalled)",
    registry=BEAT_REGISTRY,
)
BEAT_CLAIMS_LOST = Counter(
    "reportbot_beat_claims_lost_total",
    "Scheduled runs not published here because another beat had already claimed them",
    registry=BEAT_REGISTRY,
)
BEAT_PUBLISH_FAILURES = Counter(
    "reportbot_beat_publish_failures_total",
    "Scheduled runs the broker did not take; each is tried again while within its grace",
    registry=BEAT_REGISTRY,
)
BEAT_CLAIMS_UNREPLICATED = Counter(
    "reportbot_beat_claims_unreplicated_total",
    "Scheduled runs held back because no Redis replica acknowledged their claim in time; "
    "each is tried again a second later",
    registry=BEAT_REGISTRY,
)
BEAT_LEADER_CHANGES = Counter(
    "reportbot_beat_leader_changes_total",
    "Times this beat took or lost the leader lock",
    registry=BEAT_REGISTRY,
)
BEAT_LEADING = Gauge(
    "reportbot_beat_leading", "1 while this beat holds the leader lock and dispatches", registry=BEAT_REGISTRY
)


def observe_job(report: str, outcome: str, seconds: float | None) -> None:
    """Count one finished job (a retried attempt is not one); its run time when known."""
    JOBS.labels(report=report, outcome=outcome).inc()
    if seconds is not None:
        JOB_SECONDS.labels(report=report, outcome=outcome).observe(seconds)


def monitoring_app(health: Health, registry: CollectorRegistry = REGISTRY) -> WsgiApp:
    """``/healthz``: ``health()`` as JSON, ``503`` when it is not ok, so a probe or a load
    balancer stops sending work; ``/metrics``: ``registry`` as Prometheus scrapes it (by
    prometheus_client, which also answers gzip and OpenMetrics when asked); ``404`` elsewhere."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            ok, details = health()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps({"ok": ok, **details}).encode()]
        if path == METRICS_PATH:
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # scrapes are not news
        pass


def serve_monitoring(app: WsgiApp, port: int, setting: str, host: str = "0.0.0.0") -> WSGIServer | None:
    """Serve `app` (a `monitoring_app`) from a daemon thread; ``.shutdown()`` stops it. A busy
    port is logged, naming `setting` (0 turns it off), and never fatal: None."""
    from prometheus_client.exposition import ThreadingWSGIServer

    try:
        server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    except OSError as exc:
        log.warning("metrics: cannot listen on port %s (%s); %s=0 turns them off", port, exc, setting)
        return None
    threading.Thread(target=server.serve_forever, name=f"metrics-{port}", daemon=True).start()
    log.info("metrics at http://%s:%s%s", host, server.server_port, METRICS_PATH)
    return server
