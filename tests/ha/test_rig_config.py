"""The rig's nodes are its own: names, ports, files and settings that never reach the machine's
RabbitMQ (5672, distribution 25672, /etc/rabbitmq). Nothing is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from harig.__main__ import main
from harig.rabbit import DEFAULT_BASE_PORT, RabbitCluster

pytestmark = pytest.mark.unit


def test_the_broker_url_names_the_three_nodes_for_kombus_failover(tmp_path: Path):
    rig = RabbitCluster(tmp_path, base_port=30100)

    assert rig.broker_url == ";".join(f"amqp://guest:guest@127.0.0.1:{p}//" for p in (30100, 30101, 30102))
    assert [n.name for n in rig.nodes] == ["rig1@localhost", "rig2@localhost", "rig3@localhost"]


def test_each_node_has_its_own_ports_files_and_config_never_the_systems(tmp_path: Path):
    rig = RabbitCluster(tmp_path)
    ports = {p for n in rig.nodes for p in (n.port, n.dist_port)}
    assert len(ports) == 6 and not ports & {5672, 25672, 4369}
    assert rig.nodes[0].port == DEFAULT_BASE_PORT

    envs = [rig._env(node) for node in rig.nodes]
    for node, env in zip(rig.nodes, envs, strict=True):
        assert env["RABBITMQ_NODENAME"] == node.name
        assert env["RABBITMQ_NODE_PORT"] == str(node.port)
        assert env["RABBITMQ_DIST_PORT"] == str(node.dist_port)
        for name in (
            "RABBITMQ_MNESIA_BASE",
            "RABBITMQ_LOG_BASE",
            "RABBITMQ_CONFIG_FILE",
            "RABBITMQ_CONF_ENV_FILE",
        ):
            assert env[name].startswith(str(node.home)), name
        assert "/etc/rabbitmq" not in " ".join(env.values())


def test_the_cli_says_when_there_is_no_rig(tmp_path: Path, capsys):
    assert main(["status", "--dir", str(tmp_path)]) == 1
    assert main(["down", "--dir", str(tmp_path)]) == 1
    assert "no rig in" in capsys.readouterr().err
