"""Where a schedule fires: Celery Beat with schedules in Redis, safe to run twice.

``StoreScheduler`` is a ``celery.beat.Scheduler``, the worker app's ``beat_scheduler``, so
``python run.py beat`` and ``celery -A tasks beat`` both run it. Its ``tick`` reads the
schedules from the store each time, so a schedule added from Slack is picked up within a tick and nothing is lost when beat restarts:
the definitions and each schedule's next planned run live in Redis, not in beat's memory.
The leading beat also closes, every ``CLOSE_EVERY`` seconds, the jobs left running past their
deadline by a worker that is gone (``WorkerApp.close_overdue``, from ``tasks.worker.lost_jobs``:
the app beat runs with brings it, so this package never imports the worker, which keeps
schedules in order as their runs end).

Exactly once, guarded twice:
1. a leader lock in the store (claimed with a TTL, extended every tick, released on close):
   only one beat of several dispatches, and a standby takes over within ``LOCK_TTL``;
2. a claim per run, ``schedule:{id}:run:{planned time}``, taken right before publishing, so
   even two beats that both think they lead (a lock lost mid-tick, a paused process, a lock
   forgotten by a Redis failover) publish a planned run once. The claim is published only once
   a replica holds it too (``Store.claim_replicated``: Redis WAIT), so a replica promoted by
   Sentinel cannot have forgotten it; the run state may be older there, but its planned times
   are the same, so beat finds the claim and moves on (docs/reliability.md, "Redis failover").

A run is an ordinary job: ``RUN_REPORT`` with a ``Job`` carrying the schedule id, published on
the worker's Celery app with broker confirms. If the broker refuses it, the claim is released
and the next tick tries again while the run is still within its grace.

Each beat serves ``/metrics`` (runs fired, skipped, claimed by another beat, refused by the
broker; leader changes; whether it leads: ``tasks.metrics``) and ``/healthz`` (leading or
standing by, and how long ago its last tick began) on BEAT_METRICS_PORT (0 turns it off).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery.beat import Scheduler

from tasks.jobs.publishing import job_time_limit, publish_job
from tasks.jobs.records import Job, JobRecords, new_job_id
from tasks.metrics import (
    BEAT_CLAIMS_LOST,
    BEAT_CLAIMS_UNREPLICATED,
    BEAT_LEADER_CHANGES,
    BEAT_LEADING,
    BEAT_PUBLISH_FAILURES,
    BEAT_REGISTRY,
    BEAT_RUNS_FIRED,
    BEAT_RUNS_SKIPPED,
    monitoring_app,
    serve_monitoring,
)
from tasks.reports import Registry
from tasks.schedules.home_refresh import HomeRefresher, refresh_stale
from tasks.schedules.schedule import (
    RUN_CLAIM_TTL,
    RunState,
    Schedule,
    ScheduleStore,
    StaticSchedules,
    all_schedules,
    plan,
    run_claim_key,
)
from tasks.settings import Settings
from tasks.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

LEADER_KEY = "beat:leader"
#: A standby beat takes over this long after the leader stopped extending its lock.
LOCK_TTL = 10.0
#: Bounds on waiting for the broker, so one bad publish cannot stall every schedule.
PUBLISH_TIMEOUT = 5.0
CONFIRM_TIMEOUT = 5.0
#: How long a run's claim may wait for a replica to hold it (Redis WAIT) before it is published.
REPLICA_WAIT = 1.0
#: After a failed publish, wait this long before trying that schedule again.
RETRY_AFTER = 5.0
#: Seconds between the leader's passes over the jobs left running past their deadline.
CLOSE_EVERY = 30.0
#: /healthz fails once no tick has begun for this long: beat's loop is stuck (a tick waits at
#: most on a publish and its confirm per due schedule, each bounded above).
STALE_AFTER = 60.0
#: Seconds between beat's ticks: how soon a new schedule, a removal or a pause is noticed.
BEAT_MAX_LOOP_INTERVAL = 1


class LeaderLock:
    """Who of several beats dispatches: a store key with a TTL, extended while held."""

    def __init__(self, store: Store, holder: str | None = None, ttl: float = LOCK_TTL) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.held = False

    def hold(self) -> bool:
        """Keep or take the lock; False (and nothing dispatched) if another beat has it."""
        was = self.held
        try:
            # Extend first even when not `held`: after Redis was unreachable for a moment (a
            # failover), the key may still name this beat; it leads again at once instead of
            # every beat waiting out the TTL of a lock nobody else can take.
            if self.store.extend(LEADER_KEY, self.holder, self.ttl):
                self.held = True
                if was:
                    return True
            else:
                self.held = self.store.claim(LEADER_KEY, self.holder, self.ttl)
        except StoreUnavailable as exc:
            log.warning("beat: store unavailable, not dispatching: %s", exc)
            self.held = False
            self._changed(was)
            return False
        if self.held and not was:
            log.info("beat: leading (lock %s held by %s)", LEADER_KEY, self.holder)
        elif was and not self.held:
            log.warning("beat: lost the leader lock; standing by")
        self._changed(was)
        return self.held

    def _changed(self, was: bool) -> None:
        if was != self.held:
            BEAT_LEADER_CHANGES.inc()
        BEAT_LEADING.set(1 if self.held else 0)

    def release(self) -> None:
        if self.held:
            try:
                self.store.release(LEADER_KEY, self.holder)
            except StoreUnavailable:
                pass
            self.held = False
            self._changed(True)


class Dispatcher:
    """One pass over the schedules: which are due, claim each run, publish it as a job."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        app: Any,
        static_path: str | Path | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.schedules = ScheduleStore(store)
        self.records = JobRecords(store, settings.job_retention_days)
        self.registry = registry
        self.app = app
        self.static = StaticSchedules(static_path or settings.reports_file, registry)
        self._retry_at: dict[str, float] = {}

    def run(self, now: float | None = None) -> float:
        """Dispatch what is due; return seconds until the earliest next run (for beat's sleep)."""
        now = time.time() if now is None else now
        schedules = all_schedules(self.schedules, self.static.current())
        states = self.schedules.states()
        live = {s.id for s in schedules}
        for orphan in set(states) - live:  # a schedule removed while beat wrote its state
            self.schedules.forget_state(orphan)
        soonest = float(BEAT_MAX_LOOP_INTERVAL)
        for schedule in schedules:
            if schedule.paused or self._retry_at.get(schedule.id, 0.0) > now:
                continue
            try:
                wait = self.run_one(schedule, states.get(schedule.id), now)
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("beat: schedule %s could not be planned", schedule.id)
                continue
            if wait is not None:
                soonest = min(soonest, max(wait, 0.0))
        return soonest

    def run_one(self, schedule: Schedule, state: RunState | None, now: float) -> float | None:
        """Plan one schedule; fire it if due. Returns seconds until its next run."""
        decision = plan(schedule, state, now)
        state = state or RunState()
        state.rule_key = schedule.rule.key
        if decision.skipped is not None:
            log.warning(
                "beat: schedule %s missed its run planned at %s (misfire=%s); skipped",
                schedule.id,
                _iso(decision.skipped),
                schedule.misfire,
            )
            state.last_skipped = decision.skipped
            BEAT_RUNS_SKIPPED.inc()
        if decision.fire_at is not None:
            if not self.fire(schedule, decision.fire_at, state):
                return RETRY_AFTER
        if decision.next_run != state.next_run or decision.fire_at is not None or decision.skipped:
            state.next_run = decision.next_run
            if self.schedules.get(schedule.id) is not None or schedule.static:
                self.schedules.save_state(schedule.id, state)
        return None if decision.next_run is None else decision.next_run - now

    def fire(self, schedule: Schedule, planned: float, state: RunState) -> bool:
        """Claim the run (schedule id + planned time) and publish its job; False to retry later."""
        key = run_claim_key(schedule.id, planned)
        job = Job(
            id=new_job_id(),
            report=schedule.report,
            args=dict(schedule.args),
            channel=schedule.channel,
            user=schedule.user,
            requested_at=time.time(),
            schedule_id=schedule.id,
        )
        claimed = self.store.claim_replicated(key, job.id, RUN_CLAIM_TTL, REPLICA_WAIT)
        if not claimed.won:
            log.info("beat: run %s of %s already made; not again", _iso(planned), schedule.id)
            BEAT_CLAIMS_LOST.inc()
            return True
        if not claimed.replicated:
            # A failover now would promote a replica without this claim, and another pass
            # (this beat's or a second leader's) would fire the run again: wait for the replica.
            log.warning(
                "beat: schedule %s run %s not queued: its claim reached no replica within %g s",
                schedule.id,
                _iso(planned),
                REPLICA_WAIT,
            )
            self.store.release(key, job.id)
            # Soon: a replica catches up in moments, and just after a failover the Sentinels
            # take a second to see the old primary (now listed as a replica) down.
            self._retry_at[schedule.id] = time.time() + REPLICA_WAIT
            BEAT_CLAIMS_UNREPLICATED.inc()
            return False
        try:
            self.publish(job)
        except Exception as exc:  # kombu/amqp raise many kinds; all mean "not queued"
            log.warning(
                "beat: schedule %s run %s not queued: %s: %s",
                schedule.id,
                _iso(planned),
                type(exc).__name__,
                exc,
            )
            self.store.release(key, job.id)
            self._retry_at[schedule.id] = time.time() + RETRY_AFTER
            BEAT_PUBLISH_FAILURES.inc()
            return False
        self._retry_at.pop(schedule.id, None)
        self.records.created(job)  # set-if-absent: never overwrites a worker's quicker "running"
        state.last_run = planned
        state.last_job_id = job.id
        BEAT_RUNS_FIRED.inc()
        log.info(
            "beat: schedule %s fired for %s as job %s (%s)", schedule.id, _iso(planned), job.id, job.report
        )
        return True

    def publish(self, job: Job) -> None:
        limit = job_time_limit(self.registry.get(job.report), self.settings)
        publish_job(self.app, job, limit, timeout=PUBLISH_TIMEOUT, confirm_timeout=CONFIRM_TIMEOUT)


class StoreScheduler(Scheduler):
    """Celery Beat's scheduler, reading schedules from the store every tick, behind a leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.dispatcher: Dispatcher | None = None
        self.lock: LeaderLock | None = None
        self.runtime: Any = None
        self._close_at = 0.0  # time.monotonic() of the next pass over overdue jobs: at once
        self._closing: threading.Thread | None = None
        self._last_tick = time.monotonic()  # the start counts as one: a beat starting up is healthy
        self._ticked = False
        self.monitoring: WSGIServer | None = None
        self.homes: HomeRefresher | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        runtime = self.app.runtime  # the beat process's settings, store and reports (WorkerApp)
        self.runtime = runtime
        self.dispatcher = Dispatcher(runtime.settings, runtime.store, runtime.registry, self.app)
        self.lock = LeaderLock(runtime.store)
        dispatcher = self.dispatcher
        self.homes = HomeRefresher(
            lambda: runtime.slack, lambda: runtime.store, runtime.settings, dispatcher.static.current
        )
        port = runtime.settings.beat_metrics_port
        if port and self.monitoring is None:
            self.monitoring = serve_monitoring(
                monitoring_app(self.health, BEAT_REGISTRY), port, "BEAT_METRICS_PORT"
            )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while ticks keep beginning, leading or standing by (a standby is ready to
        take over: that is its job)."""
        age = time.monotonic() - self._last_tick
        leading = self.lock is not None and self.lock.held
        return age < STALE_AFTER, {
            "pid": os.getpid(),
            "role": "leading" if leading else "standing by",
            "last_tick_age": round(age, 3) if self._ticked else None,
        }

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass: lead or stand by; if leading, dispatch what is due."""
        if self.dispatcher is None or self.lock is None:
            self.setup_schedule()
        assert self.dispatcher is not None and self.lock is not None
        self._last_tick, self._ticked = time.monotonic(), True
        if not self.lock.hold():
            return float(self.max_interval)
        self.close_overdue()
        if self.homes is not None:  # the Homes of people whose jobs ended, on the refresher's thread
            refresh_stale(self.homes, self.runtime.store)
        try:
            return min(self.dispatcher.run(), float(self.max_interval))
        except StoreUnavailable as exc:
            log.warning("beat: store unavailable during a tick: %s", exc)
            return float(self.max_interval)

    def close_overdue(self) -> None:
        """Every CLOSE_EVERY seconds, close the jobs a lost worker left running, on a thread of
        its own: closing waits on Slack, and the tick must go on dispatching and holding the
        leader lock meanwhile. One pass at a time."""
        if time.monotonic() < self._close_at or (self._closing is not None and self._closing.is_alive()):
            return
        self._close_at = time.monotonic() + CLOSE_EVERY
        self._closing = threading.Thread(target=self._close_pass, name="beat-close", daemon=True)
        self._closing.start()

    def _close_pass(self) -> None:
        """One pass of closing overdue jobs; never raises."""
        try:
            closed = self.app.close_overdue(holder=self.lock.holder if self.lock else "beat")
        except Exception as exc:  # Redis or Slack, now: the next pass tries again
            log.warning("beat: could not close overdue jobs: %s: %s", type(exc).__name__, exc)
            return
        if closed:
            log.warning("beat: closed %d job(s) left running past their deadline", closed)

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
        if self.monitoring is not None:
            self.monitoring.shutdown()
            self.monitoring.server_close()
            self.monitoring = None
        super().close()

    @property
    def info(self) -> str:
        return f"    . schedules -> redis (leader lock {LEADER_KEY}, {LOCK_TTL:g} s)"


def embedded_beat(app: Any) -> Any:
    """Beat in a thread of this process (local mode), with the same scheduler and loop as
    ``python run.py beat``. Returns the started service; ``.stop()`` ends it."""
    from celery.beat import EmbeddedService

    # Celery's Service ignores the app's beat_scheduler: name ours, as the `beat` command does.
    service = EmbeddedService(app, scheduler_cls=StoreScheduler, thread=True)
    service.start()
    return service


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
