"""A three-node RabbitMQ cluster on this machine, from the installed `rabbitmq-server`.

Each node has its own name (`rig1@localhost`…), AMQP port, Erlang distribution port, data and
log directories and config file, so the system's node (`rabbit@localhost` on 5672, pinned there
by /etc/rabbitmq/rabbitmq.conf) is never touched: every command here names a rig node with `-n`.
Nodes share the machine's Erlang cookie, so they run as the user the system's `rabbitmqctl`
runs as (`rabbitmq` when we are root; ourselves otherwise, with our own cookie).

Nodes boot in parallel (a node's boot is most of the rig's start-up time), then the second and
third join the first. `broker_url` names the three nodes separated by `;`, the way
`CELERY_BROKER_URL` lists a cluster for kombu's failover.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CTL_DIR = Path("/usr/lib/rabbitmq/bin")  # the real scripts; /usr/sbin's wrappers `su` for root
SIZE = 3
# AMQP on P, P+1, P+2; Erlang distribution on P+10, P+11, P+12. Not RabbitMQ's own rule (its
# distribution port is AMQP's + 20000, 25672 for 5672), which would put a test's ports in the
# kernel's ephemeral range (32768-60999), where a client's connection may hold one.
DEFAULT_BASE_PORT = 5681
DIST_OFFSET = 10
BOOT_TIMEOUT = 90.0


class RabbitError(RuntimeError):
    """A rig node did not start, join or stop; the message ends with its log's tail."""


def _script(name: str) -> str:
    """The path of a RabbitMQ script, preferring the real one over /usr/sbin's `su` wrapper."""
    real = CTL_DIR / name
    return str(real) if real.exists() else (shutil.which(name) or name)


def _run_as() -> str | None:
    """The user whose Erlang cookie the nodes and our `rabbitmqctl` calls share: `rabbitmq` when
    we are root (the system's nodes and tools run as it), else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
    return "rabbitmq"


def ports_free(ports: Iterable[int]) -> bool:
    """True when nothing listens on any of `ports` on loopback."""
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


@dataclass(frozen=True)
class Node:
    """One rig node: its name, ports and the files that are its own."""

    index: int
    port: int
    dist_port: int
    home: Path

    @property
    def name(self) -> str:
        return f"rig{self.index}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def pid_file(self) -> Path:
        return self.home / "pid"

    @property
    def log_file(self) -> Path:
        return self.home / "log" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The node's Erlang VM, as its pid file says (None before it is written)."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and _beam_alive(pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log yet)"


class RabbitCluster:
    """Three RabbitMQ nodes clustered together under `directory`, on ports from `base_port`.

    `start()` boots and clusters them; `kill(node)` SIGKILLs one; `start_node(node)` brings one
    back; `restart()` stops all and starts all; `stop()` stops whatever still runs. Used as a
    context manager it stops everything on the way out, whatever happened."""

    def __init__(self, directory: Path | None = None, base_port: int = DEFAULT_BASE_PORT) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="harig-rabbit-"))
        self.user = _run_as()
        self.nodes = [
            Node(i, base_port + i - 1, base_port + i - 1 + DIST_OFFSET, self.directory / f"rig{i}")
            for i in range(1, SIZE + 1)
        ]

    # ------------------------------------------------------------------ addresses

    @property
    def broker_url(self) -> str:
        """The three nodes' AMQP URLs joined by `;`: a CELERY_BROKER_URL with failover."""
        return ";".join(node.url for node in self.nodes)

    def add_vhost(self, vhost: str) -> str:
        """Create `vhost` (guest may use it) and return the broker URL naming it on every node:
        one cluster serves several test runs, each in a virtual host of its own."""
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return ";".join(node.url.removesuffix("/") + vhost for node in self.nodes)

    def node(self, name: str) -> Node:
        """The rig node called `name` (`rig2@localhost`)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RabbitCluster:
        """Boot the three nodes at once, wait for them, and join the 2nd and 3rd to the 1st.
        Nodes that are already clustered (a restart from their data) just boot."""
        fresh = not (self.nodes[0].home / "mnesia").exists()
        for node in self.nodes:
            self._prepare(node)
        _parallel(self.start_node, self.nodes)
        if fresh:
            for node in self.nodes[1:]:  # one at a time: two joining at once can fail to start Mnesia
                self._join(node)
        return self

    def start_node(self, node: Node) -> None:
        """Boot `node` (detached) and return once RabbitMQ runs on it."""
        if node.alive():
            return
        node.pid_file.unlink(missing_ok=True)
        result = subprocess.run(
            [_script("rabbitmq-server"), "-detached"],
            env=self._env(node),
            user=self.user,
            cwd=node.home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RabbitError(f"{node.name} did not start: {result.stderr.strip()}\n{node.log_tail()}")
        self._wait_booted(node)

    def kill(self, node: Node) -> None:
        """SIGKILL `node`'s Erlang VM, as a crash or an OOM kill would, and wait until it is gone."""
        pid = node.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _beam_alive(pid), 10, f"{node.name} to die")

    def stop_node(self, node: Node, timeout: float = 30.0) -> None:
        """Stop `node` gracefully (SIGTERM: the VM runs RabbitMQ's shutdown), SIGKILL past `timeout`."""
        pid = node.pid()
        if pid is None or not node.alive():
            return
        # RabbitMQ removes its pid file early in its shutdown: watch the process itself.
        os.kill(pid, signal.SIGTERM)
        try:
            _wait(lambda: not _beam_alive(pid), timeout, f"{node.name} to stop")
        except TimeoutError:
            if _beam_alive(pid):
                os.kill(pid, signal.SIGKILL)
                _wait(lambda: not _beam_alive(pid), 10, f"{node.name} to die")

    def stop_all(self) -> None:
        """Stop every node at once; their data stays, so `start()` brings the cluster back."""
        _parallel(self.stop_node, self.nodes)

    def restart(self) -> None:
        """Stop the whole cluster, then start it again from its data (all nodes at once: a
        clustered node waits at boot for the peers that were up when it stopped)."""
        self.stop_all()
        self.start()

    def stop(self) -> None:
        """Stop every node, and remove the directory if this cluster made it."""
        try:
            self.stop_all()
        finally:
            if self._own_dir:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RabbitCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    def running(self) -> list[Node]:
        return [node for node in self.nodes if node.alive()]

    def ctl(self, *args: str, node: Node | None = None, timeout: float = 60.0) -> str:
        """`rabbitmqctl -n <node> …` (the first running node by default); its output."""
        target = node or next(iter(self.running()), None)
        if target is None:
            raise RabbitError("no rig node is running")
        result = subprocess.run(
            [_script("rabbitmqctl"), "-n", target.name, "-q", *args],
            env=self._env(target),
            user=self.user,
            cwd=target.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RabbitError(f"rabbitmqctl {' '.join(args)} on {target.name}: {result.stderr.strip()}")
        return result.stdout

    def cluster_nodes(self) -> list[str]:
        """The nodes the cluster says are running."""
        out = self.ctl("eval", "rabbit_nodes:all_running().")
        return sorted(part.strip(" []'\n") for part in out.strip().strip("[]").split(",") if part.strip())

    def leader(self, queue: str, vhost: str = "/") -> Node:
        """The node leading the quorum queue `queue` (where its Raft leader runs)."""
        out = self.ctl("list_queues", "-p", vhost, "--no-table-headers", "name", "leader")
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[0] == queue:
                return self.node(parts[1].strip())
        raise RabbitError(f"no queue {queue!r} in {vhost!r}:\n{out}")

    def queue_depths(self, vhost: str = "/") -> dict[str, int]:
        """Messages in each queue of `vhost` (ready and unacknowledged), as last sampled (every
        half second: `collect_statistics_interval`)."""
        out = self.ctl("list_queues", "-p", vhost, "--no-table-headers", "name", "messages")
        depths = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[1].strip().isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    # ------------------------------------------------------------------ internals

    def _prepare(self, node: Node) -> None:
        """Write the node's config (its own listener, loopback only; no plugins) and hand its
        directory to the user it runs as."""
        (node.home / "log").mkdir(parents=True, exist_ok=True)
        (node.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{node.port}\n"
            # A node that lost its peers keeps serving what it can; a SIGKILLed peer is back soon.
            "cluster_partition_handling = ignore\n"
            # Queue lengths (`list_queues messages`) are sampled; sample often, for the tests.
            "collect_statistics_interval = 500\n"
            "log.console = false\n"
            "log.file.level = warning\n"
        )
        (node.home / "enabled_plugins").write_text("[].\n")
        (node.home / "rabbitmq-env.conf").write_text("# the rig sets everything in the environment\n")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _env(self, node: Node) -> dict[str, str]:
        """The node's environment: everything that makes it its own, nothing from /etc/rabbitmq."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        if self.user is not None:
            env["HOME"] = pwd.getpwnam(self.user).pw_dir  # where the shared cookie is
        env.update(
            {
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_PORT": str(node.port),
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_MNESIA_BASE": str(node.home / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.home / "log"),
                "RABBITMQ_PID_FILE": str(node.pid_file),
                "RABBITMQ_CONFIG_FILE": str(node.home / "rabbitmq.conf"),
                "RABBITMQ_CONF_ENV_FILE": str(node.home / "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.home / "enabled_plugins"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.home / "advanced.config"),
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
                "ERL_EPMD_ADDRESS": "127.0.0.1",
            }
        )
        return env

    def _wait_booted(self, node: Node) -> None:
        """Wait until RabbitMQ accepts AMQP connections on the node (its listener opens last)."""

        def up() -> bool:
            if node.pid() is not None and not node.alive():
                raise RabbitError(f"{node.name} exited while booting:\n{node.log_tail()}")
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", node.port)) == 0

        try:
            _wait(up, BOOT_TIMEOUT, f"{node.name} to listen on {node.port}", interval=0.1)
        except TimeoutError as exc:
            raise RabbitError(f"{exc}\n{node.log_tail()}") from None

    def _join(self, node: Node) -> None:
        """Join `node` (fresh) to the first node's cluster: in one call, else (it failed, say
        Mnesia would not start again under load) step by step with `rabbitmqctl`'s own commands."""
        first = self.nodes[0].name
        try:
            self.ctl("eval", _JOIN.format(first=first), node=node)
        except RabbitError:
            self.ctl("stop_app", node=node)
            self.ctl("reset", node=node)
            self.ctl("join_cluster", first, node=node)
            self.ctl("start_app", node=node)
        self._wait_booted(node)


# stop_app, reset, join_cluster, start_app in one `rabbitmqctl` call: each call starts an Erlang
# VM for the CLI, about a second on this machine.
_JOIN = (
    "ok = rabbit:stop(), ok = rabbit_mnesia:reset(), "
    "ok = rabbit_mnesia:join_cluster('{first}', disc), ok = rabbit:start()."
)


def _beam_alive(pid: int) -> bool:
    """True while `pid` is a running Erlang VM (not gone, not a zombie, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, state = stat.split(" (", 1)[1].rsplit(") ", 1)
    return "beam" in name and not state.startswith(("Z", "X"))


def _wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _parallel(fn: Callable[[Node], T], nodes: list[Node]) -> list[T]:
    """`fn` on every node at once; the first error is raised once all have finished."""
    with ThreadPoolExecutor(len(nodes) or 1) as pool:
        futures = [pool.submit(fn, node) for node in nodes]
    return [f.result() for f in futures]
