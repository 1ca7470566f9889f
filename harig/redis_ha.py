"""A Sentinel-managed Redis on this machine: a primary, a replica and three Sentinels.

For the HA tests and for trying failover on a laptop (`python -m harig up`). Every server is a
`redis-server` of its own, on ports of its own (`base_port` .. `base_port + 4`), with its config,
log and pid file in `directory`, bound to 127.0.0.1: the system's Redis (6379) is never
touched. The Sentinels are `redis-server --sentinel` (no `redis-sentinel` binary is needed).

The servers daemonize and leave pid files, so `down` may be called by another process than
`up` (the CLI): `RedisSentinels(directory, base_port).stop()` stops what the pid files name,
checking each pid is still that server before signalling it.

Failover is tuned for tests: a primary silent for 1 s is down, and a quorum of two Sentinels
promotes the replica within a few seconds. Nothing is persisted to disk (`save ""`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HOST = "127.0.0.1"
SERVICE = "reportbot"
#: A primary that answers no PING for this long is down for a Sentinel (subjectively).
DOWN_AFTER_MS = 1000
#: How long a failover may take before Sentinels try another one.
FAILOVER_TIMEOUT_MS = 5000
T = TypeVar("T")


def _wait(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `predicate` until truthy; TimeoutError naming `what` when it never is."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class RedisSentinels:
    """A primary, a replica and three Sentinels watching them as service `service`.

    Ports: primary `base_port`, replica `base_port + 1`, Sentinels `base_port + 2` .. `+ 4`.
    After a failover the roles move: `primary_port()` asks the Sentinels who leads now.
    """

    def __init__(self, directory: str | Path, base_port: int = 26400, service: str = SERVICE) -> None:
        self.dir = Path(directory)
        self.base_port = base_port
        self.service = service
        self.data_ports = (base_port, base_port + 1)
        self.sentinel_ports = (base_port + 2, base_port + 3, base_port + 4)

    # -- addresses ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """REDIS_URL for reportbot: the three Sentinels and the service, database 0."""
        hosts = ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def direct_url(self, port: int, db: int = 0) -> str:
        """A plain URL of one data node (for a test's own look at it, never for reportbot)."""
        return f"redis://{HOST}:{port}/{db}"

    def primary_port(self) -> int | None:
        """The primary's port as the Sentinels see it (the first that answers); None if none does."""
        for port in self.sentinel_ports:
            try:
                addr = self._client(port).sentinel_get_master_addr_by_name(self.service)
            except Exception:  # a Sentinel down: ask the next
                continue
            if addr:
                return int(addr[1])
        return None

    # -- life ---------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> RedisSentinels:
        """Start the five servers and wait until the replica is in sync and every Sentinel sees
        the primary, the replica and the other two Sentinels. Stops them all if any is not.
        With all five already running (a second `up`), does nothing."""
        self.dir.mkdir(parents=True, exist_ok=True)
        names = [self._name_of(p) for p in (*self.data_ports, *self.sentinel_ports)]
        running = [name for name in names if self._pid(name) is not None]
        if len(running) == len(names):
            return self
        if running:
            raise RuntimeError(f"part of the Redis rig runs ({', '.join(running)}); stop it first")
        try:
            primary, replica = self.data_ports
            self._launch(f"redis-{primary}", self._data_conf(primary, None))
            self._launch(f"redis-{replica}", self._data_conf(replica, primary))
            _wait(lambda: self._in_sync(primary), timeout, f"the replica on {replica} to sync")
            for port in self.sentinel_ports:
                self._launch(f"sentinel-{port}", self._sentinel_conf(port, primary), sentinel=True)
            _wait(self._sentinels_ready, timeout, "the Sentinels to see each other and the replica")
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> RedisSentinels:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill_primary(self) -> int:
        """SIGKILL the current primary (as a machine lost would); returns its port."""
        port = self.primary_port()
        if port is None:
            raise RuntimeError("no Sentinel names a primary")
        self.kill(port)
        return port

    def switchover(self, timeout: float = 30.0) -> int:
        """A failover the Sentinels run with the primary alive (`SENTINEL FAILOVER`): the
        replica is promoted and the old primary, demoted, answers writes with READONLY. Returns
        the new primary's port once the old one is a replica."""
        old = self.primary_port()
        if old is None:
            raise RuntimeError("no Sentinel names a primary")
        self._client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", self.service)
        new = self.wait_for_promotion(old, timeout)

        def demoted() -> bool:
            try:
                return str(self._client(old).execute_command("ROLE")[0]) == "slave"
            except Exception:
                return False

        # Until the Sentinels reconfigure it (on their next look at it, up to 10 s later), the
        # old primary still takes writes, and loses them when it then resyncs from the new one.
        # Do now what they will do, so the window is over when this returns.
        if not demoted():
            self._client(old).execute_command("REPLICAOF", HOST, new)
        _wait(demoted, timeout, f"the old primary on {old} to become a replica")
        return new

    def kill(self, port: int) -> None:
        """SIGKILL the data node or Sentinel on `port`."""
        pid = self._pid(self._name_of(port))
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), 10, f"redis-server on {port} to die")

    def wait_for_promotion(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the Sentinels name another primary than `old_port` and it answers as one
        (ROLE master); returns its port."""

        def promoted() -> int:
            port = self.primary_port()
            if port is None or port == old_port:
                return 0
            try:
                role = self._client(port).execute_command("ROLE")
            except Exception:
                return 0
            return port if role and role[0] == "master" else 0

        return _wait(promoted, timeout, f"a primary other than {old_port}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every server this rig started (by its pid file), Sentinels first; SIGKILL the
        ones that do not stop within `timeout`. Safe to call twice or after a failed start."""
        names = [f"sentinel-{p}" for p in self.sentinel_ports] + [f"redis-{p}" for p in self.data_ports]
        pids = [pid for name in names if (pid := self._pid(name)) is not None]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        for name in names:
            (self.dir / f"{name}.pid").unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        """Each server: its port, whether it runs, and its role (for `python -m harig status`)."""
        rows: dict[str, Any] = {"url": self.url, "primary": self.primary_port()}
        for port in (*self.data_ports, *self.sentinel_ports):
            name = self._name_of(port)
            pid = self._pid(name)
            role = None
            if pid is not None:
                try:
                    role = str(self._client(port).execute_command("ROLE")[0])
                except Exception:
                    role = "not answering"
            rows[name] = {"port": port, "pid": pid, "role": role}
        return rows

    # -- inside -------------------------------------------------------------------------------

    def _client(self, port: int) -> Any:
        import redis

        return redis.Redis(HOST, port, socket_connect_timeout=0.5, socket_timeout=1, decode_responses=True)

    def _name_of(self, port: int) -> str:
        return f"sentinel-{port}" if port in self.sentinel_ports else f"redis-{port}"

    def _data_conf(self, port: int, primary: int | None) -> str:
        lines = [
            f"port {port}",
            f"bind {HOST}",
            "daemonize yes",
            f"pidfile {self.dir / f'redis-{port}.pid'}",
            f"logfile {self.dir / f'redis-{port}.log'}",
            f"dir {self.dir}",
            f"dbfilename dump-{port}.rdb",
            'save ""',
            "appendonly no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if primary is not None:
            lines.append(f"replicaof {HOST} {primary}")
        return "\n".join(lines) + "\n"

    def _sentinel_conf(self, port: int, primary: int) -> str:
        return (
            "\n".join(
                [
                    f"port {port}",
                    f"bind {HOST}",
                    "daemonize yes",
                    f"pidfile {self.dir / f'sentinel-{port}.pid'}",
                    f"logfile {self.dir / f'sentinel-{port}.log'}",
                    f"dir {self.dir}",
                    f"sentinel monitor {self.service} {HOST} {primary} 2",
                    f"sentinel down-after-milliseconds {self.service} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {self.service} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {self.service} 1",
                ]
            )
            + "\n"
        )

    def _launch(self, name: str, conf: str, sentinel: bool = False) -> None:
        """Write `name`'s config (a Sentinel rewrites its own) and start it; it daemonizes."""
        path = self.dir / f"{name}.conf"
        path.write_text(conf, encoding="utf-8")
        port = int(name.rsplit("-", 1)[1])
        if self._pid(name) is not None:
            raise RuntimeError(f"{name} already runs (pid file {self.dir / f'{name}.pid'}); run down first")
        argv = ["redis-server", str(path), *(["--sentinel"] if sentinel else [])]
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
        _wait(lambda: self._pings(port), 15, f"{name} to answer on {port}")

    def _pings(self, port: int) -> bool:
        try:
            return bool(self._client(port).ping())
        except Exception:
            return False

    def _in_sync(self, primary: int) -> bool:
        try:
            info = self._client(primary).info("replication")
        except Exception:
            return False
        slave = info.get("slave0")
        return isinstance(slave, dict) and slave.get("state") == "online"

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                master = self._client(port).sentinel_master(self.service)
            except Exception:
                return False
            if int(master.get("num-slaves", 0)) < 1 or int(master.get("num-other-sentinels", 0)) < 2:
                return False
        return True

    def _pid(self, name: str) -> int | None:
        """The live pid of `name` from its pid file, if it still is that redis-server."""
        try:
            pid = int((self.dir / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        port = name.rsplit("-", 1)[1]
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        if "redis-server" not in cmdline or f":{port}" not in cmdline or not _alive(pid):
            return None
        return pid


def free_base_port(count: int = 5, start: int = 27100, stop: int = 32000) -> int:
    """The first of `count` consecutive loopback ports nothing listens on, from a place in
    [start, stop) that varies with the time, so two rigs started at once rarely race."""
    offset = (time.time_ns() // 1000) % ((stop - start) // count // 2) * count
    for base in range(start + offset, stop - count, count):
        if not any(_listening(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports in {start}..{stop}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count: it has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
