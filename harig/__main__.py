"""`python -m harig up|down|status [--dir D] [--base-port P]`: a local HA rig to try reportbot on.

`up` starts a three-node RabbitMQ cluster (AMQP on P, P+1, P+2; Erlang distribution on P+10,
P+11, P+12) and a Redis primary, replica and three Sentinels (P+1000 to P+1004), all under D,
and prints the settings that point reportbot at them.
The processes outlive this command; `down` stops them (their data stays in D, so a later `up`
brings the same cluster back); `status` says what runs. The machine's own RabbitMQ (5672) and
Redis (6379) are never touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harig.rabbit import DEFAULT_BASE_PORT, RabbitCluster, RabbitError, ports_free
from harig.redis_ha import RedisSentinels

DEFAULT_DIR = Path("/tmp/harig")
REDIS_OFFSET = 1000  # Redis's ports start this far above RabbitMQ's
STATE = "harig.json"


def _redis(directory: Path, base_port: int) -> RedisSentinels:
    """The rig's Redis with Sentinels, on ports REDIS_OFFSET above RabbitMQ's."""
    return RedisSentinels(directory / "redis", base_port=base_port + REDIS_OFFSET)


def _settings(rabbit: RabbitCluster, redis: RedisSentinels) -> dict[str, str]:
    return {"CELERY_BROKER_URL": rabbit.broker_url, "CELERY_QUEUE_TYPE": "quorum", "REDIS_URL": redis.url}


def up(directory: Path, base_port: int) -> int:
    """Start both halves; on any failure stop what was started and say why."""
    state_file = directory / STATE
    if state_file.exists():
        base_port = json.loads(state_file.read_text())["base_port"]
    rabbit = RabbitCluster(directory / "rabbit", base_port)
    if not rabbit.running() and not ports_free(p for n in rabbit.nodes for p in (n.port, n.dist_port)):
        print(
            f"ports {base_port}-{base_port + 2} or {base_port + 10}-{base_port + 12} are taken; "
            "pass another --base-port",
            file=sys.stderr,
        )
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"base_port": base_port}))
    redis = _redis(directory, base_port)
    try:
        rabbit.start()
        redis.start()
    except BaseException:
        rabbit.stop_all()
        redis.stop()
        raise
    for name, value in _settings(rabbit, redis).items():
        print(f"{name}={value}")
    return 0


def down(directory: Path) -> int:
    """Stop whatever of the rig under `directory` still runs; its data stays."""
    state_file = directory / STATE
    if not state_file.exists():
        print(f"no rig in {directory}", file=sys.stderr)
        return 1
    base_port = json.loads(state_file.read_text())["base_port"]
    try:
        _redis(directory, base_port).stop()
    finally:
        RabbitCluster(directory / "rabbit", base_port).stop_all()
    print(f"stopped the rig in {directory}")
    return 0


def status(directory: Path) -> int:
    """Each node and what it answers; exit 0 only when every RabbitMQ node runs."""
    state_file = directory / STATE
    if not state_file.exists():
        print(f"no rig in {directory}")
        return 1
    base_port = json.loads(state_file.read_text())["base_port"]
    rabbit = RabbitCluster(directory / "rabbit", base_port)
    for node in rabbit.nodes:
        print(
            f"{node.name}  amqp {node.port}  {'running pid ' + str(node.pid()) if node.alive() else 'stopped'}"
        )
    if rabbit.running():
        try:
            print("cluster: " + ", ".join(rabbit.cluster_nodes()))
        except RabbitError as exc:
            print(f"cluster: unknown ({exc})")
    redis = _redis(directory, base_port)
    for name, row in redis.status().items():
        if isinstance(row, dict):
            running = f"running pid {row['pid']} ({row['role']})" if row.get("pid") else "stopped"
            print(f"{name}  port {row['port']}  {running}")
    for name, value in _settings(rabbit, redis).items():
        print(f"{name}={value}")
    return 0 if len(rabbit.running()) == len(rabbit.nodes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harig", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"where the rig lives (default {DEFAULT_DIR})"
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"RabbitMQ's first AMQP port; Redis's start {REDIS_OFFSET} above (default {DEFAULT_BASE_PORT})",
    )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "up":
        return up(directory, args.base_port)
    if args.command == "down":
        return down(directory)
    return status(directory)


if __name__ == "__main__":
    sys.exit(main())
