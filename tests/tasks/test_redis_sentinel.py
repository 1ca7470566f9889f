"""REDIS_URL's Sentinel form: parsed, validated with a one-line message that never shows the
password, redacted, and turned into redis-py's Sentinel client; and the two changes to beat
that keep a planned run to one firing across a failover (the replicated claim, the lock that
its holder takes back at once). No service is reached: these are unit tests."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from tasks.logs import configure_logging, redact
from tasks.redis_url import FORM, SentinelUrl, SentinelUrlError, parse_sentinel_url, sentinel_password
from tasks.schedules.beat import LEADER_KEY, Dispatcher, LeaderLock
from tasks.schedules.schedule import Rule, RunState, Schedule, run_claim_key
from tasks.settings import Settings, SettingsError, load_settings
from tasks.store import Claimed, MemoryStore, RedisStore, StoreUnavailable

pytestmark = pytest.mark.unit

SECRET = "S3nt!nel-pass"


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "redis+sentinel://127.0.0.1:26379/mymaster",
            SentinelUrl((("127.0.0.1", 26379),), "mymaster"),
        ),
        (
            "redis+sentinel://:p%40ss@s1:26379,s2:26380,s3:26381/reportbot/2",
            SentinelUrl((("s1", 26379), ("s2", 26380), ("s3", 26381)), "reportbot", 2, "p@ss"),
        ),
        (
            "REDIS+SENTINEL://app:pw@[::1]:26379/svc-1/",
            SentinelUrl((("::1", 26379),), "svc-1", 0, "pw", "app"),
        ),
    ],
)
def test_sentinel_urls_are_read_into_hosts_service_db_and_password(url: str, parsed: SentinelUrl) -> None:
    got = parse_sentinel_url(url)
    assert got == parsed and got.password == parsed.password and got.username == parsed.username
    assert SECRET not in repr(parse_sentinel_url(f"redis+sentinel://:{SECRET}@h:1/s"))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"redis+sentinel://:{SECRET}@h1/mymaster", "host:port"),
        (f"redis+sentinel://:{SECRET}@h1:26379,/mymaster", "host:port"),
        (f"redis+sentinel://:{SECRET}@h1:99999/mymaster", "host:port"),
        (f"redis+sentinel://:{SECRET}@h1:26379", "service"),
        (f"redis+sentinel://:{SECRET}@h1:26379/", "service"),
        (f"redis+sentinel://:{SECRET}@h1:26379/mymaster/x", "database"),
        (f"redis+sentinel://:{SECRET}@h1:26379/mymaster/16", "database"),
        (f"redis+sentinel://:{SECRET}@h1:26379/mymaster/0/extra", "too many"),
        (f"redis+sentinel://:{SECRET}@h1:26379/mymaster?ssl=1", "query"),
        (f"redis+sentinel://{SECRET}@h1:26379/mymaster", "credentials"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_in_one_line_naming_the_form_never_the_password(
    url: str, says: str
) -> None:
    with pytest.raises(SentinelUrlError) as direct:
        parse_sentinel_url(url)
    with pytest.raises(SettingsError) as refused:
        load_settings({"REDIS_URL": url}, dotenv=None)
    message = str(refused.value)
    assert message == str(direct.value) and says in message and FORM in message, message
    assert message.startswith("REDIS_URL") and "\n" not in message
    assert SECRET not in message and "h1" not in message


def test_settings_accept_the_sentinel_form_and_the_plain_ones_as_before() -> None:
    url = f"redis+sentinel://:{SECRET}@s1:26379,s2:26379/reportbot/1"
    assert load_settings({"REDIS_URL": url}, dotenv=None).redis_url == url
    for plain in ("redis://localhost:6379/0", "rediss://:pw@r:6380/0", "unix:///run/redis.sock", "memory://"):
        assert load_settings({"REDIS_URL": plain}, dotenv=None).redis_url == plain


def test_the_sentinel_password_is_a_settings_secret_and_redacted_wherever_it_shows() -> None:
    url = f"redis+sentinel://:{SECRET}@s1:26379,s2:26379/reportbot/1"
    assert SECRET in Settings(redis_url=url).secrets()
    assert sentinel_password(url) == SECRET and sentinel_password("redis+sentinel://s1:1/x") is None
    line = f"cannot reach {url}: timed out"
    assert (
        redact(line) == "cannot reach redis+sentinel://:[redacted]@s1:26379,s2:26379/reportbot/1: timed out"
    )
    # Even a URL too malformed for urllib (an unclosed IPv6 bracket) has its password hidden.
    assert SECRET in Settings(redis_url=f"redis+sentinel://:{SECRET}@[::1:26379/reportbot").secrets()
    encoded = "redis+sentinel://:p%40ss%2Fword@s1:26379/reportbot"
    assert "p@ss/word" in Settings(redis_url=encoded).secrets()


def test_a_logged_sentinel_error_shows_no_password(configured: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(Settings(redis_url=f"redis+sentinel://:{SECRET}@s1:26379/reportbot"))
    logging.getLogger("tasks.store").warning("primary unreachable; the password %s was refused", SECRET)
    assert "primary unreachable" in stream.getvalue() and SECRET not in stream.getvalue()


def test_a_sentinel_url_makes_a_client_of_the_services_primary_with_the_usual_timeouts() -> None:
    from redis.sentinel import SentinelConnectionPool

    store = RedisStore("redis+sentinel://:pw@s1:26379,s2:26380/reportbot/3", prefix="p:")
    pool = store._r.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "reportbot"
    kwargs = pool.connection_kwargs
    assert kwargs["db"] == 3 and kwargs["password"] == "pw" and kwargs["decode_responses"]
    assert kwargs["socket_connect_timeout"] == 1 and kwargs["socket_timeout"] == 2
    sentinels = pool.sentinel_manager.sentinels
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in sentinels
    ] == [
        ("s1", 26379),
        ("s2", 26380),
    ]
    # The Sentinels are asked with the same timeouts, and without the data nodes' password.
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 2
    assert sentinels[0].connection_pool.connection_kwargs.get("password") is None
    bounded = store.bounded(0.5)
    assert isinstance(bounded, RedisStore)
    assert bounded._r.connection_pool.connection_kwargs["socket_timeout"] == 0.5


def test_the_in_process_store_counts_every_claim_as_replicated() -> None:
    store = MemoryStore()
    assert store.claim_replicated("run:1", "a", 60, 1.0) == Claimed(True, True)
    assert store.claim_replicated("run:1", "b", 60, 1.0) == Claimed(False, True)


class Flaky(MemoryStore):
    """A store that is unreachable while `down` (a failover), and whose claims reach no replica
    while `lagging`."""

    down = False
    lagging = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")

    def claim(self, key: str, value: str, ttl: float) -> bool:
        self._check()
        return super().claim(key, value, ttl)

    def extend(self, key: str, value: str, ttl: float) -> bool:
        self._check()
        return super().extend(key, value, ttl)

    def claim_replicated(self, key: str, value: str, ttl: float, timeout: float) -> Claimed:
        won = self.claim(key, value, ttl)
        return Claimed(won, not (won and self.lagging))


def test_the_leader_leads_again_as_soon_as_redis_is_back_and_a_standby_still_waits() -> None:
    store = Flaky()
    leader, standby = LeaderLock(store, "leader"), LeaderLock(store, "standby")
    assert leader.hold() and not standby.hold()
    store.down = True
    assert not leader.hold() and not standby.hold()
    store.down = False
    # The key still names the leader: it takes it back at once, not after the TTL.
    assert leader.hold() and not standby.hold()
    assert store.get(LEADER_KEY) == "leader"


class Recording(Dispatcher):
    """A dispatcher that records what it would publish instead of reaching RabbitMQ."""

    def __init__(self, store: Any) -> None:
        super().__init__(Settings(reports_file="/nonexistent/reports.toml"), store, registry=None, app=None)  # type: ignore[arg-type]
        self.published: list[str] = []

    def publish(self, job: Any) -> None:
        self.published.append(job.id)


def test_a_run_whose_claim_reached_no_replica_is_not_published_and_is_tried_again() -> None:
    store = Flaky()
    dispatcher = Recording(store)
    schedule = Schedule(
        id="s-fence1", report="echo", args={}, rule=Rule(every_seconds=60), channel="C1", user="U1"
    )
    planned = 1_773_000_000.0
    store.lagging = True
    assert not dispatcher.fire(schedule, planned, RunState())
    assert dispatcher.published == [] and store.get(run_claim_key(schedule.id, planned)) is None
    store.lagging = False
    state = RunState()
    assert dispatcher.fire(schedule, planned, state)
    assert len(dispatcher.published) == 1 and state.last_run == planned
    # A second leader (the lock granted twice) finds the run made.
    assert Recording(store).fire(schedule, planned, RunState()) and len(dispatcher.published) == 1
