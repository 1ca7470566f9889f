"""Keeping a person's App Home current: load what it shows, publish it, never fail the caller.

Called from the bot (the Home opened, a Home button, a schedule command) and from beat (the
people one of whose jobs ended, which the job's final save lists in `HOME_STALE_INDEX`); `tasks`
never imports `bot`, so both share this. It sits with the schedules, most of what the Home
shows. The worker publishes no Home itself: it marks the Home stale in the save it makes anyway
(or with `JobRecords.mark_home_stale`, for a schedule that paused itself), and beat publishes.

A Home is published only for people who have opened it at least once (`mark_opened`,
remembered in the store for `OPENED_TTL`): a workspace of thousands whose jobs end all day does
not cost a `views.publish` per job for people who never look at the tab.

`refresh_home` never raises: a failed load or publish is one log line, since the change that
asked for the refresh (a schedule paused, a job finished) has happened either way and the next
opening of the tab shows it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from slack_sdk.models.views import View

from tasks.jobs.records import HOME_STALE_INDEX, JobRecords
from tasks.rendering.home import MAX_SCHEDULES_SHOWN, RECENT_JOBS, ScheduleRow, home_view
from tasks.schedules.schedule import Schedule, ScheduleStore, plan
from tasks.settings import Settings
from tasks.slack.ids import is_user_id
from tasks.slack.web_api import WebApi, web_url
from tasks.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "OPENED_TTL",
    "HomeRefresher",
    "has_opened",
    "home_for",
    "mark_opened",
    "may_change_schedules",
    "refresh_home",
    "refresh_stale",
]

#: How long a person who opened the Home keeps getting it refreshed without opening it again.
OPENED_TTL = 30 * 86400
#: People waiting for a background refresh in one process; past it a refresh is dropped (the
#: next opening of the tab, or the next change, shows the news).
MAX_WAITING = 200
#: Seconds between two background publishes: views.publish is Tier 4, about 100 a minute.
PUBLISH_GAP = 0.5
#: People taken from the stale index per beat tick (a second). Most never opened their Home and
#: cost one read; those who did are published PUBLISH_GAP apart, the rest wait in the refresher.
STALE_PER_TICK = 50


def _opened_key(user: str) -> str:
    return f"home:opened:{user}"


def mark_opened(store: Store, user: str) -> None:
    """Remember that `user` opened the Home tab, so later changes are published to them."""
    store.set(_opened_key(user), "1", ttl=OPENED_TTL)


def has_opened(store: Store, user: str) -> bool:
    return store.get(_opened_key(user)) is not None


def may_change_schedules(settings: Settings, user: str) -> bool:
    """`ScheduleCommands.require_admin`'s rule: with ADMIN_USERS set, only they may change
    schedules; without, anyone may change the ones they can see."""
    return not settings.admin_users or user in settings.admin_users


def home_for(
    store: Store,
    user: str,
    *,
    settings: Settings,
    static: Iterable[Schedule] = (),
    notice: str = "",
    now: float | None = None,
) -> View:
    """The Home view for `user`: an admin sees every schedule, anyone else their own; their
    recent jobs; `notice` at the top. Three store round trips, however many schedules."""
    now = time.time() if now is None else now
    admin = user in settings.admin_users
    schedules = ScheduleStore(store)
    static = list(static)
    taken = {s.id for s in static}
    everyone = static + [s for s in schedules.all() if s.id not in taken]
    mine = [s for s in everyone if admin or (s.user == user and not s.static)]
    states = schedules.states() if mine else {}
    records = JobRecords(store, settings.job_retention_days)
    shown = mine[:MAX_SCHEDULES_SHOWN]
    last_ids = [states[s.id].last_job_id for s in shown if s.id in states and states[s.id].last_job_id]
    last_jobs = {r.job.id: r for r in records.get_many(last_ids)}
    changes = may_change_schedules(settings, user)
    rows = []
    for n, s in enumerate(mine):
        state = states.get(s.id)
        # Planned only for those shown: the rest are counted ("and N more"), not drawn.
        next_run = None if s.paused or n >= len(shown) else plan(s, state, now).next_run
        rows.append(
            ScheduleRow(
                schedule=s,
                next_run=next_run,
                state=state,
                last_job=last_jobs.get(state.last_job_id) if state else None,
                may_change=changes and not s.static,
            )
        )
    jobs = records.recent_for_user(user, RECENT_JOBS)
    return home_view(rows, jobs, web=web_url(settings.slack_api_url), notice=notice, admin=admin)


def refresh_home(
    web_api: WebApi,
    store: Store,
    user: str,
    *,
    settings: Settings,
    static: Iterable[Schedule] = (),
    notice: str = "",
    opened: bool = False,
) -> bool:
    """Publish `user`'s Home as it is now, if they have opened it (or `opened`: they are
    opening it now); True when published. Never raises: a failure is one log line."""
    if not is_user_id(user):
        return False
    try:
        if not opened and not has_opened(store, user):
            return False
        view = home_for(store, user, settings=settings, static=static, notice=notice)
        web_api.publish_home(user, view)
        return True
    except Exception as exc:  # the caller's change is done either way; the next opening shows it
        log.warning("App Home of %s not published: %s", user, type(exc).__name__)
        return False


class HomeRefresher:
    """Refreshes Homes off the caller's path: `later(user)` returns at once, and one thread per
    process publishes, each waiting person once however many changes they had meanwhile, at most
    one publish every `gap` seconds (views.publish is Tier 4: about 100 a minute).

    Beat owns one: each tick hands it the people whose jobs ended (`refresh_stale`). The thread
    starts on first use in the process that uses it, so no fork inherits it."""

    def __init__(
        self,
        web_api: Callable[[], WebApi],
        store: Callable[[], Store],
        settings: Settings,
        static: Callable[[], Sequence[Schedule]] = list,
        gap: float = PUBLISH_GAP,
    ) -> None:
        self._web_api, self._store, self._static = web_api, store, static
        self.settings = settings
        self.gap = gap
        self._cond = threading.Condition()
        self._waiting: dict[str, None] = {}  # an ordered set: the first to ask is the first served
        self._pid = -1

    def later(self, *users: str) -> None:
        """Refresh each of `users`' Homes soon. Never raises, never waits for Slack."""
        try:
            with self._cond:
                if self._pid != os.getpid():
                    self._pid, self._waiting = os.getpid(), {}
                    threading.Thread(target=self._run, name="home-refresh", daemon=True).start()
                for user in users:
                    if is_user_id(user) and len(self._waiting) < MAX_WAITING:
                        self._waiting[user] = None
                self._cond.notify()
        except Exception as exc:  # a thread that cannot start: the Home waits for its next opening
            log.warning("App Home refresh not scheduled: %s", type(exc).__name__)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                user = next(iter(self._waiting))
                del self._waiting[user]
            try:
                static = list(self._static())
            except Exception:  # the file's schedules are an admin's extra; the rest still shows
                static = []
            published = False
            try:
                published = refresh_home(
                    self._web_api(), self._store(), user, settings=self.settings, static=static
                )
            except Exception as exc:  # only a broken factory gets here; the thread must live on
                log.warning("App Home of %s not published: %s", user, type(exc).__name__)
            if published:  # someone who never opened the tab costs one read, and no wait
                time.sleep(self.gap)


def refresh_stale(refresher: HomeRefresher, store: Store, now: float | None = None) -> int:
    """Hand the people whose jobs ended (`HOME_STALE_INDEX`, kept by the job's final save) to
    `refresher`, at most `STALE_PER_TICK`; how many. Each leaves the index before its Home is
    read, so a job that ends meanwhile puts them back. Never raises (beat calls it every tick)."""
    try:
        users = store.due(HOME_STALE_INDEX, time.time() if now is None else now, STALE_PER_TICK)
        for user in users:
            store.unindex(HOME_STALE_INDEX, user)
        refresher.later(*users)
        return len(users)
    except Exception as exc:
        log.warning("stale App Homes not read: %s", type(exc).__name__)
        return 0
