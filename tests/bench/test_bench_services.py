"""The bench's vhost stores the `reports` queue the way deploy/ sets RabbitMQ up.

The figures in bench/README.md are for classic queues on storage version 2; a run that silently
fell back to RabbitMQ's version 1 (this machine's default) would measure something else.
"""

from __future__ import annotations

import pytest
from kombu import Connection

from bench.processes import Services, rabbitmqctl_rows
from tasks.jobs.queues import QUEUE
from tests.support import BROKER_ROOT, REDIS_URL, SESSION


def effective_policy(vhost: str, queue: str) -> str:
    """The definition of the policy RabbitMQ applies to `queue` (the highest priority that matches)."""
    applied = {
        name: policy for name, policy in rabbitmqctl_rows("list_queues", "-p", vhost, "name", "policy")
    }
    definitions = {row[1]: row[4] for row in rabbitmqctl_rows("list_policies", "-p", vhost)}
    return definitions[applied[queue]]


@pytest.mark.parametrize("version", [2, 1])
def test_the_reports_queue_of_a_bench_run_has_the_storage_version_asked_for(version: int) -> None:
    with Services(
        BROKER_ROOT, REDIS_URL, name=f"{SESSION}-bench-v{version}", queue_version=version
    ) as services:
        with Connection(services.broker_url) as conn:
            conn.default_channel.queue_declare(QUEUE, durable=True)
        assert effective_policy(services.name, QUEUE).replace(" ", "") == f'{{"queue-version":{version}}}'


def test_a_vhost_without_a_storage_version_gets_no_policy_to_shadow_a_tests_own() -> None:
    """Only one policy applies to a queue; the tests set their own (a length limit, say)."""
    with Services(BROKER_ROOT, REDIS_URL, name=f"{SESSION}-bench-none") as services:
        assert rabbitmqctl_rows("list_policies", "-p", services.name) == []
