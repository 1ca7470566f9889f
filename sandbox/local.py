"""`python run.py` with no Slack credentials: the whole product in one process, in a browser.

The sandbox (`sandbox.FakeSlack`) stands in for Slack at its HTTP boundary and serves a page
that looks like a channel. The real bot listens on a private port and gets the sandbox's signed
slash commands; with no broker or Redis configured, one worker and the scheduler run in this
process over Celery's in-memory transport and the in-memory store. Nothing in the bot or the
worker knows it is not talking to Slack.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.server import FakeSlack
from sandbox.thread_pool import TerminableThreadPool
from tasks.settings import Settings

log = logging.getLogger(__name__)

SANDBOX_BOT_TOKEN = "xoxb-sandbox-local"
SANDBOX_SIGNING_SECRET = "sandbox-signing-secret"
LOCAL_WORKER_THREADS = 4
# Seconds past the running jobs' time limits that a Ctrl-C waits for them to post and stop.
STOP_GRACE = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_settings(settings: Settings, api_url: str) -> Settings:
    """The settings the in-process bot and worker run with: the sandbox as Slack, in-memory
    broker and store unless a real broker or Redis was configured."""
    changes: dict[str, Any] = {
        "slack_bot_token": SANDBOX_BOT_TOKEN,
        "slack_signing_secret": SANDBOX_SIGNING_SECRET,
        "slack_app_token": "",
        "slack_api_url": api_url,
        "worker_metrics_port": 0,
        "beat_metrics_port": 0,
    }
    if "celery_broker_url" not in settings.explicit:
        changes["celery_broker_url"] = "memory://"
    if "redis_url" not in settings.explicit:
        changes["redis_url"] = "memory://"
    return settings.with_(**changes)


@dataclass
class LocalStack:
    """Everything local mode started, so tests and Ctrl-C can stop it."""

    sandbox: FakeSlack
    settings: Settings
    bot_server: Any
    worker: Any = None
    beat: Any = None

    @property
    def url(self) -> str:
        return self.sandbox.base_url

    def stop(self) -> None:
        for part in (self.beat, self.worker):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # stopping is best effort
                    log.debug("stop failed", exc_info=True)
        self.bot_server.close()
        self.sandbox.stop()


def start_local(settings: Settings, host_port: int | None = None) -> LocalStack:
    """Start the sandbox, the bot and (in-memory mode) a worker and the scheduler; return them."""
    from bot.app import build_app
    from bot.http import make_server, make_wsgi
    from tasks.worker.app import build_worker_app

    sandbox = FakeSlack(
        signing_secret=SANDBOX_SIGNING_SECRET,
        port=settings.port if host_port is None else host_port,
        bot_token=SANDBOX_BOT_TOKEN,
    )
    # The bot asks the sandbox's Web API who it is as it starts, so the sandbox serves first;
    # a command typed on its page meanwhile waits for the bot instead of failing.
    sandbox.hold_page()
    sandbox.start()
    local = local_settings(settings, sandbox.api_url)

    # The worker side of this process: the worker's app, built from the local settings.
    app = build_worker_app(local)
    if local.celery_broker_url.startswith("memory://"):
        # The in-memory transport polls its queues; the default second would show in every job.
        options = app.conf.broker_transport_options
        app.conf.broker_transport_options = {**options, "polling_interval": 0.02}
        # memory:// has no host; kombu warns so on every connection.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    # The in-process worker's threads find their tasks through Celery's default app (a pool
    # thread has no current app of its own), so it must be the worker's, not a fallback.
    app.set_default()

    bot_port = _free_port()
    bot_server = make_server(
        make_wsgi(build_app(local), signing_secret=local.slack_signing_secret), "127.0.0.1", bot_port
    )
    threading.Thread(target=bot_server.run, name="local-bot", daemon=True).start()
    sandbox.bot_url = f"http://127.0.0.1:{bot_port}/slack/events"
    sandbox.release_page()
    stack = LocalStack(sandbox=sandbox, settings=local, bot_server=bot_server)

    if local.celery_broker_url.startswith("memory://"):
        worker = app.WorkController(
            pool_cls=TerminableThreadPool,  # Celery's threads pool cannot stop a cancelled job
            concurrency=LOCAL_WORKER_THREADS,
            hostname="local@sandbox",
            loglevel=local.log_level,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        threading.Thread(target=worker.start, name="local-worker", daemon=True).start()
        stack.worker = worker
        stack.beat = _start_beat(app)
    return stack


def _start_beat(app: Any) -> Any:
    """The scheduler in a thread, as `python run.py beat` runs it in its own process."""
    from tasks.schedules.beat import embedded_beat

    return embedded_beat(app)


def run_local(settings: Settings) -> None:
    """Serve the sandbox until Ctrl-C; print its address and, with a real broker, what else to run."""
    if "log_level" not in settings.explicit:
        logging.getLogger().setLevel(logging.WARNING)
    stack = start_local(settings)
    print(f"reportbot sandbox: {stack.url}", flush=True)
    if stack.worker is None:
        log.warning(
            "A broker is configured, so no worker runs here: start `python run.py worker` (and "
            "`beat`) with SLACK_API_URL=%s SLACK_BOT_TOKEN=%s",
            stack.settings.slack_api_url,
            SANDBOX_BOT_TOKEN,
        )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stop_after_interrupt(stack)
    except BaseException:
        stack.stop()
        raise


def running_jobs(now: float | None = None) -> list[tuple[str, float]]:
    """The jobs this process's worker runs now, each with the seconds left of its time limit."""
    from celery.worker.state import active_requests

    now = time.time() if now is None else now
    jobs = []
    for request in list(active_requests):
        soft = (request.time_limits or (None, None))[1] or request.app.conf.task_soft_time_limit or 0
        jobs.append((str(request.id), max(0.0, (request.time_start or now) + soft - now)))
    return jobs


def stop_after_interrupt(stack: LocalStack) -> None:
    """The first Ctrl-C: stop taking jobs and let the running ones end, within their time limits
    (the threads pool does not enforce them), saying so; a second Ctrl-C quits at once."""
    signal.signal(signal.SIGINT, _quit_now)
    jobs = running_jobs()
    wait = max((left for _, left in jobs), default=0.0) + STOP_GRACE
    if jobs:
        ids = ", ".join(job_id for job_id, _ in jobs)
        print(
            f"reportbot: waiting for {len(jobs)} running job(s) to end ({ids}), at most {wait:.0f} s; "
            "press Ctrl-C again to quit now",
            file=sys.stderr,
            flush=True,
        )
    stopping = threading.Thread(target=stack.stop, name="local-stop", daemon=True)
    stopping.start()
    stopping.join(wait)
    if stopping.is_alive():
        print("reportbot: the running jobs did not end in time; quitting", file=sys.stderr, flush=True)
        _quit_now()


def _quit_now(*_: Any) -> None:
    """Quit without waiting: the pool's threads would be joined at exit, so leave below that."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
