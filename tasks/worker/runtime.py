"""What a worker process needs to run jobs, built once per process, lazily.

Lazily, because Celery's prefork pool forks after import: a Redis connection or HTTP session
made before the fork would be shared by every child.
"""

from __future__ import annotations

from functools import cached_property

from tasks.jobs.access import Access, make_access
from tasks.jobs.records import JobRecords
from tasks.reports import Registry, load_reports
from tasks.schedules.self_pause import SelfPause
from tasks.settings import Settings
from tasks.slack.pacing import Pacing
from tasks.slack.posting import Poster
from tasks.slack.web_api import WebApi
from tasks.store import Store, make_store
from tasks.worker.deferred_calls import DeferredCalls


class Runtime:
    """The settings and the clients built from them: Slack, the store, the report registry."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        store: Store | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        """`registry` and `store`, when given, are used in place of the ones the settings name
        (REPORT_MODULES, REDIS_URL): a test's own, or the local mode's. `pacing`, when given,
        replaces the process's own: a test's, on a clock the test moves."""
        self.settings = settings
        # Each takes its cached_property's place, as the property's cached value would.
        if registry is not None:
            self.registry = registry
        if store is not None:
            self.store = store
        if pacing is not None:
            self.pacing = pacing

    @cached_property
    def slack(self) -> WebApi:
        """Slack's Web API; a 429 comes back to the job instead of sleeping (`make_client`)."""
        return WebApi.for_settings(self.settings, wait_on_rate_limit=False)

    @cached_property
    def store(self) -> Store:
        return make_store(self.settings.redis_url, self.settings.redis_prefix)

    @cached_property
    def records(self) -> JobRecords:
        return JobRecords(self.store, self.settings.job_retention_days)

    @cached_property
    def poster(self) -> Poster:
        return Poster(self.slack)

    @cached_property
    def deferred(self) -> DeferredCalls:
        """The thread that posts a long report's "running" status message while it runs."""
        return DeferredCalls()

    @cached_property
    def pacing(self) -> Pacing:
        """What this process has learned of Slack's per-channel limit lately."""
        return Pacing()

    @cached_property
    def access(self) -> Access:
        """Who may run what, checked again before a job runs; group lookups use `slack`."""
        return make_access(lambda: self.slack)

    @cached_property
    def self_pause(self) -> SelfPause:
        """A schedule's failures in a row, and its pausing itself when it must."""
        return SelfPause(self.settings, self.store, self.slack)

    @cached_property
    def registry(self) -> Registry:
        return load_reports(
            self.settings.report_modules,
            reports_file=self.settings.reports_file,
            environ=self.settings.environ,
        )
