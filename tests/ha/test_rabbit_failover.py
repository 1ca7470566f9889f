"""Jobs survive RabbitMQ losing a node, and the whole cluster restarting (issue 26, tests 1 and 3).

A three-node RabbitMQ cluster of the test's own (`harig.RabbitCluster`: own node names, ports and
data, never the machine's 5672), quorum queues (`CELERY_QUEUE_TYPE=quorum`), `CELERY_BROKER_URL`
naming the three nodes separated by `;`. The bot serves HTTP and two workers run, as a user starts
them; Slack is the fake; Redis is the test Redis under a key prefix of this module's. Every
client connects to the first URL first, and the queue is declared there, so the node killed is
the one leading the queue and holding every connection: the hardest node to lose.

Each test prints its counts (sent, queued, completed, lost, duplicated) and asserts them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harig.rabbit import DIST_OFFSET, RabbitCluster, ports_free
from tasks.jobs.queues import BULK_QUEUE, QUEUE
from tests.support import (
    REDIS_PREFIX,
    REDIS_URL,
    WORKER_OPTIONS,
    Process,
    base_env,
    start_http,
    start_worker,
)

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
ACK_BUDGET = 3.0  # Slack's: an ack later than this is an error the person sees
BURST = 300
KILL_AFTER = 80
THREADS = 20
QUEUED_BEFORE_RESTART = 60


def free_base_port() -> int:
    """A base port whose three AMQP ports and three distribution ports are all free, below the
    kernel's ephemeral range."""
    for base in range(20000 + os.getpid() % 500 * 20, 32000, 20):
        ports = [base + i for i in range(3)] + [base + i + DIST_OFFSET for i in range(3)]
        if ports_free(ports):
            return base
    raise RuntimeError("no free ports for the rig")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    started = time.monotonic()
    with RabbitCluster(base_port=free_base_port()) as rig:
        print(f"\nrig: three nodes clustered in {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield rig


class Rig:
    """This test's processes on the cluster: its vhost, its Redis prefix, a bot and two workers."""

    def __init__(self, cluster: RabbitCluster, slack, name: str, logs: Path) -> None:
        self.cluster, self.slack, self.logs = cluster, slack, logs
        self.vhost = name
        self.prefix = f"{REDIS_PREFIX}{name}:"
        self.env = base_env(
            slack.api_url,
            CELERY_BROKER_URL=cluster.add_vhost(name),
            CELERY_QUEUE_TYPE="quorum",
            REDIS_PREFIX=self.prefix,
            LOG_LEVEL="WARNING",
        )
        self.processes: list[Process] = []
        self._previous_bot_url = slack.bot_url

    def start_bot(self) -> None:
        bot = start_http("ha-bot", [sys.executable, "run.py", "bot"], self.env, self.logs)
        self.processes.append(bot)
        self.slack.bot_url = f"http://127.0.0.1:{bot.port}/slack/events"

    def start_workers(self) -> list[Process]:
        """Two workers, started at once (each takes seconds to be ready)."""

        def one(n: int) -> Process:
            return start_worker(
                f"ha-worker-{n}", "tasks", self.env, self.logs, *WORKER_OPTIONS, "--concurrency=2"
            )

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(one, n) for n in (1, 2)]
        workers = []
        for future in futures:  # keep every one that started, so all are stopped
            try:
                workers.append(future.result())
            except Exception:
                self.processes += workers
                raise
        self.processes += workers
        return workers

    def stop(self) -> None:
        import redis

        self.slack.bot_url = self._previous_bot_url
        for proc in self.processes:
            proc.stop()
        r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        keys = list(r.scan_iter(f"{self.prefix}*", count=1000))
        if keys:
            r.delete(*keys)


@pytest.fixture
def rig(request, cluster, slack, tmp_path) -> Iterator[Rig]:
    name = f"ha-{request.node.name[5:25].replace('_', '-')}-{int(time.time()) % 100000}"
    own = Rig(cluster, slack, name, tmp_path)
    try:
        yield own
    finally:
        own.stop()


def send(slack, n: int) -> tuple[str | None, float, str]:
    """`/run-report echo` from person `n` (each their own, so each job goes on the `reports`
    queue): the job id the ack names (None if it names none), how long the ack took, and the ack."""
    response = slack.send_command(
        "/run-report", f"echo text=burst{n:04d}", channel="C0HABURST", user=f"U0HA{n:04d}", timeout=10
    )
    body = str(response.body) if response.ok else f"{response.status} {response.error} {response.body}"
    match = JOB_ID.search(body) if response.ok else None
    return (match.group(1) if match else None), response.elapsed, body


def posted(slack, channel: str, job_ids: set[str]) -> tuple[Counter[str], Counter[str]]:
    """For each job: how many status messages name it as succeeded, and how many results are in
    their threads."""
    statuses: Counter[str] = Counter()
    results: Counter[str] = Counter()
    for message in slack.messages(channel):
        blocks = str(message.blocks)
        for job_id in set(re.findall(r"[0-9a-f]{8}", blocks)) & job_ids:
            if "succeeded" in blocks:
                statuses[job_id] += 1
                results[job_id] += len(slack.thread(channel, message.ts))
    return statuses, results


def wait_all_done(slack, channel: str, job_ids: set[str], timeout: float) -> None:
    def done() -> bool:
        statuses, results = posted(slack, channel, job_ids)
        return all(statuses[j] and results[j] for j in job_ids)

    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)


def counts_line(
    what: str, sent: int, queued: int, statuses: Counter[str], results: Counter[str], took: float
) -> str:
    completed = sum(1 for j in statuses if statuses[j] and results[j])
    duplicated = sum(1 for j in statuses if statuses[j] > 1 or results[j] > 1)
    return (
        f"{what}: sent {sent}, queued {queued}, completed {completed}, lost {queued - completed}, "
        f"duplicated {duplicated}, in {took:.1f} s"
    )


def depth(rig: Rig) -> int:
    """How many messages the `reports` queue holds, as RabbitMQ answers a passive declare (the
    queue's own count, at once; `rabbitmqctl list_queues` samples it and starts a VM to ask)."""
    from kombu import Connection

    with Connection(rig.env["CELERY_BROKER_URL"], connect_timeout=5) as conn:
        return int(conn.default_channel.queue_declare(QUEUE, passive=True).message_count)


def test_a_burst_survives_sigkill_of_the_node_leading_the_jobs_queue(cluster, rig, slack):
    started = time.monotonic()
    rig.start_bot()
    rig.start_workers()
    leader = cluster.leader(QUEUE, rig.vhost)
    print(
        f"\n{QUEUE} led by {leader.name}, {BULK_QUEUE} by {cluster.leader(BULK_QUEUE, rig.vhost).name}",
        file=sys.stderr,
    )

    answered = 0
    lock = threading.Lock()
    enough = threading.Event()

    def one(n: int) -> tuple[str | None, float, str]:
        nonlocal answered
        outcome = send(slack, n)
        with lock:
            answered += 1
            if answered >= KILL_AFTER:
                enough.set()
        return outcome

    burst_started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(one, n) for n in range(BURST)]
        assert enough.wait(60), "the burst never reached the kill"
        killed_at = answered
        cluster.kill(leader)
        outcomes = [f.result() for f in futures]
    burst_took = time.monotonic() - burst_started

    queued = {job_id for job_id, _, _ in outcomes if job_id}
    late = [(round(took, 2), body[:120]) for _, took, body in outcomes if took > ACK_BUDGET]
    refused = [body[:160] for job_id, _, body in outcomes if not job_id]
    # The killed node comes back while the jobs drain, as a supervisor would bring it back.
    with ThreadPoolExecutor(1) as back:
        returning = back.submit(cluster.start_node, leader)
        wait_all_done(slack, "C0HABURST", queued, timeout=90)
        time.sleep(1.5)  # a duplicate would be posted by now
        returning.result()
    statuses, results = posted(slack, "C0HABURST", queued)
    line = counts_line("burst", BURST, len(queued), statuses, results, time.monotonic() - started)
    print(
        f"{line}; killed {leader.name} after {killed_at} acks; burst answered in {burst_took:.1f} s, "
        f"slowest ack {max(t for _, t, _ in outcomes):.2f} s",
        file=sys.stderr,
    )

    assert not refused, f"{len(refused)} commands were not queued: {refused[:3]}"
    assert not late, f"{len(late)} acks took over {ACK_BUDGET} s: {late[:3]}"
    assert len(queued) == BURST
    assert not [j for j in queued if not (statuses[j] and results[j])], "jobs never completed"
    assert not [j for j in queued if statuses[j] > 1 or results[j] > 1], "jobs posted twice"


def test_jobs_queued_when_the_whole_cluster_restarts_run_once_after_it(cluster, rig, slack):
    started = time.monotonic()
    cluster.start()  # whole, whatever an earlier test left down
    rig.start_bot()
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda n: send(slack, n), range(QUEUED_BEFORE_RESTART)))
    queued = {job_id for job_id, _, _ in outcomes if job_id}
    assert len(queued) == QUEUED_BEFORE_RESTART, [b for j, _, b in outcomes if not j][:3]
    assert depth(rig) == QUEUED_BEFORE_RESTART

    restart_started = time.monotonic()
    cluster.restart()
    restart_took = time.monotonic() - restart_started
    depth_after = depth(rig)

    workers_started = time.monotonic()
    rig.start_workers()
    workers_took = time.monotonic() - workers_started
    wait_all_done(slack, "C0HABURST", queued, timeout=60)
    drained_in = time.monotonic() - workers_started - workers_took
    time.sleep(1.5)  # a duplicate would be posted by now
    statuses, results = posted(slack, "C0HABURST", queued)
    line = counts_line(
        "restart", QUEUED_BEFORE_RESTART, len(queued), statuses, results, time.monotonic() - started
    )
    print(
        f"\n{line}; {restart_started - started:.1f} s to queue them, cluster restarted in "
        f"{restart_took:.1f} s with {depth_after} queued, workers ready in {workers_took:.1f} s, "
        f"ran all in {drained_in:.1f} s",
        file=sys.stderr,
    )

    assert depth_after == QUEUED_BEFORE_RESTART, "the queued jobs did not survive the restart"
    assert not [j for j in queued if not (statuses[j] and results[j])], "jobs never ran"
    assert not [j for j in queued if statuses[j] > 1 or results[j] > 1], "jobs ran twice"
