"""The one small store interface: job records, step markers, dedup claims, locks, schedules.

Redis in production; an in-memory twin for the local sandbox and unit tests, with the same
semantics (expiry, set-if-absent), so code above it never branches on which one it has.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from tasks.redis_url import is_sentinel_url, parse_sentinel_url

if TYPE_CHECKING:  # redis is imported where a RedisStore is made: a MemoryStore needs none
    import redis
    from redis.client import Pipeline


class ClaimAndPush(NamedTuple):
    """One entry of `Store.claim_and_push_many`: claim `key` for `value` (set-if-absent, `ttl`
    seconds) and push `item` onto `list_key`, keeping its newest `limit` items."""

    key: str
    value: str
    ttl: float
    list_key: str
    item: str
    limit: int


class Indexed(NamedTuple):
    """A sorted index kept with a write, in its round trip: `member` of `key` gets `score`, or
    leaves it when `score` is None (the running jobs, by the time they must have ended)."""

    key: str
    member: str
    score: float | None


class Mark(NamedTuple):
    """A key set once, with a time to live (`Store.add_counted`): which job a delivery queued."""

    key: str
    ttl: float


class Claimed(NamedTuple):
    """What `Store.claim_replicated` got: the claim, and whether a replica has it too."""

    won: bool
    replicated: bool


class StoreUnavailable(Exception):
    """Redis did not answer; callers say what degrades instead of crashing."""


class Store(ABC):
    """Key/value with expiry, set-if-absent, capped lists and hashes: all reportbot needs."""

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def get_many(self, keys: list[str]) -> list[str | None]:
        """Several values in one round trip (MGET): a job's record and its cancel marker."""

    @abstractmethod
    def set(self, key: str, value: str, ttl: float | None = None, index: Sequence[Indexed] = ()) -> None:
        """Set `key`, and update each sorted index of `index` in the same round trip."""

    @abstractmethod
    def set_then_get(
        self, key: str, value: str, ttl: float, other: str, index: Sequence[Indexed] = ()
    ) -> str | None:
        """`set` `key` (and `index`), then `get` `other`, in one round trip: a job's record saved
        and its cancel marker read back."""

    @abstractmethod
    def due(self, key: str, upto: float, count: int) -> list[str]:
        """Up to `count` members of the sorted index `key` whose score is at most `upto`."""

    @abstractmethod
    def unindex(self, key: str, member: str) -> None:
        """Take `member` out of the sorted index `key`."""

    @abstractmethod
    def claim(self, key: str, value: str, ttl: float) -> bool:
        """Set `key` only if absent; True when this caller now holds it (SET NX EX)."""

    def claim_replicated(self, key: str, value: str, ttl: float, timeout: float) -> Claimed:
        """`claim`, then wait up to `timeout` seconds until a replica holds the claim too (Redis
        WAIT 1), so a replica promoted after a failover cannot have forgotten it and grant the
        same claim again. `Claimed.replicated` is False only when the claim was won but a
        replica that could be promoted did not acknowledge it in time. A store with no replica
        (the in-process one; a primary without replicas that no Sentinel watches; or one whose
        replicas the Sentinels all see down, as after a failover: none can be promoted without
        first copying it) counts as replicated."""
        return Claimed(self.claim(key, value, ttl), True)

    @abstractmethod
    def release(self, key: str, value: str) -> bool:
        """Delete `key` only if it still holds `value` (so a lock is only freed by its holder)."""

    @abstractmethod
    def extend(self, key: str, value: str, ttl: float) -> bool:
        """Reset `key`'s expiry if it still holds `value`."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def count_up(self, key: str, ttl: float) -> int:
        """Add one to the counter at `key` (0 when absent) and return the new count, atomically,
        so two processes counting at once never both see the same number; the counter expires
        `ttl` seconds after its last count."""

    def claim_and_push(self, key: str, value: str, ttl: float, list_key: str, item: str, limit: int) -> bool:
        """`claim`, and prepend `item` to the list `list_key` keeping its newest `limit` items, in
        one round trip (a new job: its record and its place in the channel's history); the push
        happens either way. True when the claim was won."""
        return self.claim_and_push_many([ClaimAndPush(key, value, ttl, list_key, item, limit)])[0]

    @abstractmethod
    def claim_and_push_many(self, entries: Sequence[ClaimAndPush]) -> list[bool]:
        """`claim_and_push` for several entries in one round trip, in order: the bot's records
        of the jobs a burst of commands queued."""

    @abstractmethod
    def items(self, key: str, count: int) -> list[str]: ...

    @abstractmethod
    def hset(self, key: str, field: str, value: str) -> None: ...

    @abstractmethod
    def hget(self, key: str, field: str) -> str | None: ...

    @abstractmethod
    def hdel(self, key: str, field: str) -> bool: ...

    @abstractmethod
    def hgetall(self, key: str) -> dict[str, str]: ...

    @abstractmethod
    def add_counted(
        self, key: str, member: str, expires_at: float, now: float, limit: int, mark: Mark | None = None
    ) -> tuple[int, str | None]:
        """One round trip on the sorted set `key`, whose scores are expiry times (UNIX): drop the
        members expired at `now`, count the rest, and add `member` (scored `expires_at`) unless
        `limit` (0: none) are there already; the key itself expires with its last member.

        With a `mark`, the add happens only while the mark's key is unset, and sets it to
        `member`. Returns (the count before the add, the value an earlier caller marked), the
        latter None unless the mark was already taken, in which case nothing was counted."""

    def bounded(self, timeout: float) -> Store:
        """This store, with every call ending within `timeout` (StoreUnavailable past it): for
        the ack path, which Slack gives three seconds. The in-process store never waits."""
        return self


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)

_ADD_COUNTED = """
if ARGV[5] ~= '' then
  local earlier = redis.call('get', KEYS[2])
  if earlier then return {0, earlier} end
end
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[3])
local n = redis.call('zcard', KEYS[1])
local limit = tonumber(ARGV[4])
if limit > 0 and n >= limit then return {n, false} end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('expireat', KEYS[1], math.ceil(tonumber(last[2])))
if ARGV[5] ~= '' then redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[5]) end
return {n, false}
"""


class RedisStore(Store):
    """The production store. Every call fails fast (1 s) and raises StoreUnavailable.

    `url` is any URL redis-py reads (`redis://`, `rediss://`, `unix://`) or a Sentinel URL
    (`tasks.redis_url`): then the client is redis-py's `Sentinel(...).master_for(service)`, whose
    pool asks the Sentinels for the primary on every new connection, drops its idle connections
    when the answer changes, and turns a demoted primary's READONLY into a reconnect. So after a
    failover a call may fail once (StoreUnavailable) and the next one reaches the new primary.
    """

    def __init__(self, url: str, prefix: str = "reportbot:", timeout: float | None = None) -> None:
        import redis

        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # With `timeout`, every call is bounded by it: redis-py retries a timed-out call three
        # times by default, so a bounded store also gets no retries.
        bounded = {}
        if timeout is not None:
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            bounded = {
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry": Retry(NoBackoff(), 0),
            }
        options: dict[str, Any] = {
            **{"socket_connect_timeout": 1, "socket_timeout": 2, **bounded},
            "health_check_interval": 15,
            "retry_on_timeout": False,
        }
        self._r = _client(url, options)
        self.url = url
        self.prefix = prefix

    def bounded(self, timeout: float) -> Store:
        return RedisStore(self.url, self.prefix, timeout)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, key: str) -> str | None:
        return self._call(self._r.get, self._k(key))

    def get_many(self, keys: list[str]) -> list[str | None]:
        return list(self._call(self._r.mget, [self._k(k) for k in keys]))

    def set(self, key: str, value: str, ttl: float | None = None, index: Sequence[Indexed] = ()) -> None:
        if not index:
            self._call(self._r.set, self._k(key), value, px=int(ttl * 1000) if ttl else None)
            return

        def both() -> None:
            pipe = self._r.pipeline(transaction=False)
            pipe.set(self._k(key), value, px=int(ttl * 1000) if ttl else None)
            self._index(pipe, index)
            pipe.execute()

        self._call(both)

    def set_then_get(
        self, key: str, value: str, ttl: float, other: str, index: Sequence[Indexed] = ()
    ) -> str | None:
        def both() -> str | None:
            pipe = self._r.pipeline(transaction=False)
            pipe.set(self._k(key), value, px=int(ttl * 1000))
            self._index(pipe, index)
            pipe.get(self._k(other))
            return pipe.execute()[-1]

        return self._call(both)

    def _index(self, pipe: Pipeline, index: Sequence[Indexed]) -> None:
        for entry in index:
            if entry.score is None:
                pipe.zrem(self._k(entry.key), entry.member)
            else:
                pipe.zadd(self._k(entry.key), {entry.member: entry.score})

    def due(self, key: str, upto: float, count: int) -> list[str]:
        return list(self._call(self._r.zrangebyscore, self._k(key), "-inf", upto, start=0, num=count))

    def unindex(self, key: str, member: str) -> None:
        self._call(self._r.zrem, self._k(key), member)

    def claim(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._call(self._r.set, self._k(key), value, nx=True, px=int(ttl * 1000)))

    def claim_replicated(self, key: str, value: str, ttl: float, timeout: float) -> Claimed:
        import redis

        def claim_then_wait() -> Claimed:
            # WAIT counts the writes of its own connection: a watching pipeline pins one
            # connection and runs each command at once, so SET, INFO and WAIT share it.
            with self._r.pipeline() as pipe:
                pipe.watch(self._k(key))
                if not pipe.set(self._k(key), value, nx=True, px=int(ttl * 1000)):
                    return Claimed(False, True)
                try:
                    replicas = int(pipe.info("replication").get("connected_slaves", 0))
                except redis.ResponseError:  # INFO refused (some managed Redis): a plain claim
                    replicas = 0
                if replicas == 0:
                    return Claimed(True, not self._promotable_replicas())
                acked = int(pipe.execute_command("WAIT", 1, max(1, int(timeout * 1000))))
                return Claimed(True, acked >= 1)

        return Claimed(*self._call(claim_then_wait))

    def _promotable_replicas(self) -> bool:
        """Whether, by the Sentinels (a Sentinel URL only), a replica is up though none follows
        the primary now (a link that dropped for a moment): Sentinel may still promote it, so a
        write it never received is not safe yet. With a plain URL, nobody promotes: False."""
        pool = self._r.connection_pool
        manager = getattr(pool, "sentinel_manager", None)
        if manager is None:
            return False
        return bool(manager.discover_slaves(getattr(pool, "service_name")))  # noqa: B009

    def release(self, key: str, value: str) -> bool:
        return bool(self._call(self._r.eval, _RELEASE, 1, self._k(key), value))

    def extend(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._call(self._r.eval, _EXTEND, 1, self._k(key), value, int(ttl * 1000)))

    def delete(self, key: str) -> None:
        self._call(self._r.delete, self._k(key))

    def count_up(self, key: str, ttl: float) -> int:
        def both() -> int:
            pipe = self._r.pipeline()
            pipe.incr(self._k(key))
            pipe.pexpire(self._k(key), int(ttl * 1000))
            return int(pipe.execute()[0])

        return int(self._call(both))

    def claim_and_push_many(self, entries: Sequence[ClaimAndPush]) -> list[bool]:
        def all_of_them() -> list[bool]:
            pipe = self._r.pipeline()
            for e in entries:
                pipe.set(self._k(e.key), e.value, nx=True, px=int(e.ttl * 1000))
                pipe.lpush(self._k(e.list_key), e.item)
                pipe.ltrim(self._k(e.list_key), 0, e.limit - 1)
            results = pipe.execute()
            return [bool(r) for r in results[::3]]

        return list(self._call(all_of_them))

    def items(self, key: str, count: int) -> list[str]:
        return list(self._call(self._r.lrange, self._k(key), 0, count - 1))

    def hset(self, key: str, field: str, value: str) -> None:
        self._call(self._r.hset, self._k(key), field, value)

    def hget(self, key: str, field: str) -> str | None:
        return self._call(self._r.hget, self._k(key), field)

    def hdel(self, key: str, field: str) -> bool:
        return bool(self._call(self._r.hdel, self._k(key), field))

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self._call(self._r.hgetall, self._k(key)))

    def add_counted(
        self, key: str, member: str, expires_at: float, now: float, limit: int, mark: Mark | None = None
    ) -> tuple[int, str | None]:
        mark_key, mark_ms = (self._k(mark.key), int(mark.ttl * 1000)) if mark else (self._k(key), "")
        count, earlier = self._call(
            self._r.eval, _ADD_COUNTED, 2, self._k(key), mark_key, member, expires_at, now, limit, mark_ms
        )
        return int(count), earlier or None


class MemoryStore(Store):
    """The same semantics in one process, for the sandbox's all-in-one mode and unit tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[object, float | None]] = {}
        self._lock = threading.RLock()
        self._clock = clock

    def _live(self, key: str) -> object | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self._clock():
            del self._data[key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return self._clock() + ttl if ttl else None

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._live(key)
            return value if isinstance(value, str) else None

    def get_many(self, keys: list[str]) -> list[str | None]:
        return [self.get(k) for k in keys]

    def set(self, key: str, value: str, ttl: float | None = None, index: Sequence[Indexed] = ()) -> None:
        with self._lock:
            self._data[key] = (value, self._expiry(ttl))
            for entry in index:
                scores = self._hash(entry.key)
                if entry.score is None:
                    scores.pop(entry.member, None)
                else:
                    scores[entry.member] = repr(entry.score)

    def set_then_get(
        self, key: str, value: str, ttl: float, other: str, index: Sequence[Indexed] = ()
    ) -> str | None:
        with self._lock:
            self.set(key, value, ttl, index)
            return self.get(other)

    def due(self, key: str, upto: float, count: int) -> list[str]:
        with self._lock:
            scored = sorted((float(score), member) for member, score in self._hash(key).items())
            return [member for score, member in scored if score <= upto][:count]

    def unindex(self, key: str, member: str) -> None:
        with self._lock:
            self._hash(key).pop(member, None)

    def claim(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._expiry(ttl))
            return True

    def release(self, key: str, value: str) -> bool:
        with self._lock:
            if self._live(key) == value:
                del self._data[key]
                return True
            return False

    def extend(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key) == value:
                self._data[key] = (value, self._expiry(ttl))
                return True
            return False

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def count_up(self, key: str, ttl: float) -> int:
        with self._lock:
            value = self._live(key)
            count = (int(value) if isinstance(value, str) else 0) + 1
            self._data[key] = (str(count), self._expiry(ttl))
            return count

    def claim_and_push_many(self, entries: Sequence[ClaimAndPush]) -> list[bool]:
        claimed = []
        with self._lock:
            for e in entries:
                claimed.append(self.claim(e.key, e.value, e.ttl))
                current = self._live(e.list_key)
                items = list(current) if isinstance(current, list) else []
                self._data[e.list_key] = ([e.item, *items][: e.limit], None)
        return claimed

    def items(self, key: str, count: int) -> list[str]:
        with self._lock:
            current = self._live(key)
            return list(current)[:count] if isinstance(current, list) else []

    def _hash(self, key: str) -> dict[str, str]:
        current = self._live(key)
        if not isinstance(current, dict):
            current = {}
            self._data[key] = (current, None)
        return current

    def hset(self, key: str, field: str, value: str) -> None:
        with self._lock:
            self._hash(key)[field] = value

    def hget(self, key: str, field: str) -> str | None:
        with self._lock:
            return self._hash(key).get(field)

    def hdel(self, key: str, field: str) -> bool:
        with self._lock:
            return self._hash(key).pop(field, None) is not None

    def hgetall(self, key: str) -> dict[str, str]:
        with self._lock:
            return dict(self._hash(key))

    def add_counted(
        self, key: str, member: str, expires_at: float, now: float, limit: int, mark: Mark | None = None
    ) -> tuple[int, str | None]:
        with self._lock:
            earlier = self.get(mark.key) if mark else None
            if earlier is not None:
                return 0, earlier
            members = {m: at for m, at in self._hash(key).items() if float(at) > now}
            count = len(members)
            if not limit or count < limit:
                members[member] = str(expires_at)
                if mark:
                    self.set(mark.key, member, mark.ttl)
            self._data[key] = (members, None)
            return count, None


def _client(url: str, options: dict[str, Any]) -> redis.Redis:
    """The redis-py client for `url` with `options` (timeouts, retries): from the URL, or, for a
    Sentinel URL, the current primary of its service through the Sentinels (asked with the same
    socket timeouts, so an unreachable Sentinel is skipped as fast as a dead primary)."""
    import redis
    from redis.sentinel import Sentinel

    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, decode_responses=True, **options)
    parsed = parse_sentinel_url(url)
    sockets = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=sockets)
    return sentinel.master_for(
        parsed.service,
        decode_responses=True,
        db=parsed.db,
        username=parsed.username,
        password=parsed.password,
        **options,
    )


def make_store(url: str, prefix: str = "reportbot:") -> Store:
    """`memory://` gives the in-process store; anything else is a Redis URL, `redis+sentinel://`
    included (`tasks.redis_url`)."""
    if url.startswith("memory://"):
        return _shared_memory_store()
    return RedisStore(url, prefix=prefix)


_MEMORY: MemoryStore | None = None


def _shared_memory_store() -> MemoryStore:
    # In the all-in-one mode the bot, worker and scheduler share one process and one store.
    global _MEMORY
    if _MEMORY is None:
        _MEMORY = MemoryStore()
    return _MEMORY
