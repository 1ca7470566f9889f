"""A TCP fault proxy: put it between a process and RabbitMQ or Redis, then break the path.

Other test sessions share the real RabbitMQ and Redis servers, so a test must never stop or
reconfigure them. Instead the process under test is pointed at this proxy (its
`CELERY_BROKER_URL` / `REDIS_URL` name the proxy's port), and the test breaks the network path:

* `cut()`: close every connection and refuse new ones, as when the server is down;
* `blackhole()`: accept connections but never answer, and stall the open ones, as when a host
  or a firewall silently drops packets (the case only a timeout can end);
* `partition()`: the server hangs up while the process hears nothing, as in a network partition
  once the server's heartbeat timeout has fired (RabbitMQ then hands the process's unacked
  deliveries to other consumers) but before the process's own heartbeat check has;
* `restore()`: forward again, as when the server comes back.

    with FaultProxy("127.0.0.1", 5672) as proxy:
        env = base_env(url, CELERY_BROKER_URL=proxy.url("amqp://guest:guest@", "/vhost"))
        proxy.cut()
        ...
        proxy.restore()
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Literal

Mode = Literal["forward", "cut", "blackhole"]


class FaultProxy:
    """A thread-based TCP forwarder on 127.0.0.1 whose path can be cut or blackholed."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "forward"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._upstreams: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self.port = 0
        self.accepted = 0

    # ----------------------------------------------------------- lifecycle

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="fault-proxy", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self._drop_all()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, scheme_and_auth: str, path: str = "") -> str:
        """`url("redis://", "/15")` → `redis://127.0.0.1:<port>/15`."""
        return f"{scheme_and_auth}127.0.0.1:{self.port}{path}"

    # -------------------------------------------------------------- faults

    def cut(self) -> None:
        """Close every connection and refuse new ones (connection refused), like a server down."""
        with self._lock:
            self.mode = "cut"
        self._close_listener()
        self._drop_all()

    def blackhole(self) -> None:
        """Accept connections and swallow bytes, answering nothing; open connections stall too."""
        with self._lock:
            self.mode = "blackhole"
        if self._listener is None:
            self._listen()

    def partition(self) -> None:
        """Close the server's side of every connection, leaving the process's side silent: the
        server sees the process gone at once, the process sees nothing until its own checks
        (heartbeats, timeouts) give up. New connections are blackholed."""
        self.blackhole()
        with self._lock:
            upstreams, self._upstreams = self._upstreams, []
        for upstream in upstreams:
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        """Forward again; connections made from now on reach the server."""
        with self._lock:
            previous, self.mode = self.mode, "forward"
        if previous == "blackhole":
            self._drop_all()  # stalled sessions are broken for good, as after a real outage
        if self._listener is None:
            self._listen()

    # ----------------------------------------------------------- internals

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() (Linux)
            except OSError:
                pass
            listener.close()

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns, self._upstreams = self._conns, [], []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed (cut or stop)
            self.accepted += 1
            with self._lock:
                mode = self.mode
                self._conns.append(client)
            if mode == "cut":
                client.close()
                continue
            if mode == "blackhole":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.append(upstream)
                self._upstreams.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _swallow(self, client: socket.socket) -> None:
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways; in blackhole mode read and drop them, so the peer hears nothing."""
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 0.2)
                if self._stopped.is_set():
                    return
                for sock in readable:
                    try:
                        data = sock.recv(65536)
                    except OSError:  # reset: the same as closed
                        data = b""
                    if not data:
                        if sock is upstream and self.mode == "blackhole":
                            self._swallow(client)  # partitioned: the process talks to nobody
                        return
                    if self.mode == "forward":
                        pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in pair:
                try:
                    sock.close()
                except OSError:
                    pass
