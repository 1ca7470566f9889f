"""Fault injection against the real RabbitMQ, Redis and worker processes: nothing lost, nothing
posted twice, every user told what happened.

The servers are shared with other test sessions, so they are never stopped: this module's bot and
workers reach them through `tests.faults.FaultProxy`, which cuts, blackholes or partitions the
path instead (the bot and the workers share one proxy to Redis; a worker reaches RabbitMQ through
a proxy when its test breaks that path: its own, or the bot's to cut both, as a broker restart
would). A broker restart is played from the clients' side, never on the shared server. Jobs go
through a RabbitMQ virtual host of this module's own, so only the workers a test starts can take
them. Each test counts what it sent and what the channel showed (jobs completed, lost,
duplicated); `docs/reliability.md` reports those counts, printed at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.processes import rabbitmqctl_rows
from tasks.rendering.messages import CANCEL_ACTION, RERUN_ACTION
from tests.fault_reports import FINANCE_BOSS, FINANCE_CHANNEL, FINANCE_GROUP
from tests.faults import FaultProxy
from tests.secret_shapes import secrets_in
from tests.support import (
    APP_TOKEN,
    BOT_TOKEN,
    BROKER_ROOT,
    REDIS_URL,
    SESSION,
    SIGNING_SECRET,
    TEST_REPORTS,
    WORKER_OPTIONS,
    Process,
    Services,
    base_env,
    start_bot,
    start_worker,
    wait_until,
)

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
# This module's own virtual host; its Redis keys stay under the session's prefix.
FAULTS = Services(
    BROKER_ROOT, REDIS_URL, name=f"{SESSION}-faults", bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET
)
VHOST = FAULTS.name
BROKER = FAULTS.broker_url
REPORTS = f"{TEST_REPORTS},tests.fault_reports"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)
COUNTS: dict[str, dict[str, Any]] = {}


# ------------------------------------------------------------------------------ fixtures


class Rig:
    """This module's bot, its proxies, and the workers a test starts."""

    def __init__(self, slack_server: Any, tmp: Path, amqp: FaultProxy, redis: FaultProxy) -> None:
        self.slack_server = slack_server
        self.tmp = tmp
        self.amqp = amqp
        self.redis = redis
        self.redis_url = redis.url("redis://", urllib.parse.urlsplit(REDIS_URL).path or "/0")
        self.bot: Process | None = None
        self.bot_url = ""
        self.workers: list[Process] = []
        self.logs: list[Path] = []

    def start_worker(
        self, name: str, concurrency: int = 1, slack_api_url: str = "", broker: FaultProxy | None = None
    ) -> Process:
        """A worker of `concurrency` pool processes; given `broker`, it reaches RabbitMQ only
        through that proxy, so a test can break the worker's path to the broker."""
        env = base_env(
            slack_api_url or self.slack_server.api_url,
            CELERY_BROKER_URL=through(broker) if broker else BROKER,
            REDIS_URL=self.redis_url,
            REPORT_MODULES=REPORTS,
            REPORT_TIME_LIMIT="10",
        )
        proc = start_worker(
            name, "tasks", env, self.tmp, *WORKER_OPTIONS, f"--concurrency={concurrency}", celery_cli=True
        )
        self.workers.append(proc)
        self.logs.append(proc.log_path)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.stop(signal.SIGKILL if proc.alive() else signal.SIGTERM, timeout=10)
        self.workers = []


@pytest.fixture(scope="module")
def rig(services, slack_server, tmp_path_factory) -> Iterator[Rig]:
    redis_target = urllib.parse.urlsplit(REDIS_URL)
    FAULTS.__enter__()
    amqp = broker_proxy().start()
    redis = FaultProxy(redis_target.hostname or "127.0.0.1", redis_target.port or 6379).start()
    rig = Rig(slack_server, tmp_path_factory.mktemp("faults"), amqp, redis)
    bot, port = start_bot(
        slack_server,
        rig.tmp,
        "fault-bot",
        CELERY_BROKER_URL=through(amqp),
        REDIS_URL=rig.redis_url,
        REPORT_MODULES=REPORTS,
    )
    rig.bot, rig.bot_url = bot, f"http://127.0.0.1:{port}/slack/events"
    rig.logs.append(bot.log_path)
    yield rig
    rig.stop_workers()
    bot.stop()
    amqp.stop()
    redis.stop()
    FAULTS.__exit__(None, None, None)
    out = rig.tmp / "reliability-counts.json"
    out.write_text(json.dumps(COUNTS, indent=2))
    print(f"\nfault-injection counts ({out}):\n{json.dumps(COUNTS, indent=2)}")


@pytest.fixture
def env(rig, slack) -> Iterator[Rig]:
    """A clean path and an empty queue for each test; Slack's commands go to this module's bot."""
    rig.amqp.restore()
    rig.redis.restore()
    _purge()
    previous, slack.bot_url = slack.bot_url, rig.bot_url
    yield rig
    slack.bot_url = previous
    rig.amqp.restore()
    rig.redis.restore()
    rig.stop_workers()


def through(proxy: FaultProxy) -> str:
    """This module's broker URL, reached through `proxy`."""
    return proxy.url("amqp://guest:guest@", f"/{VHOST}")


def broker_proxy() -> FaultProxy:
    """A fault proxy of its own in front of RabbitMQ, for a test to break one process's path."""
    target = urllib.parse.urlsplit(BROKER_ROOT)
    return FaultProxy(target.hostname or "127.0.0.1", target.port or 5672)


def _purge() -> None:
    from kombu import Connection

    from tasks.jobs.queues import BULK_QUEUE, QUEUE

    with Connection(BROKER, connect_timeout=3) as conn:
        for name in (QUEUE, BULK_QUEUE):
            try:
                conn.channel().queue_purge(name)
            except Exception:  # not declared yet (the failed call closes its channel)
                pass


# ------------------------------------------------------------------------------- helpers


def send(slack, text: str, channel: str, user: str = "U0ALICE") -> tuple[Any, str, str | None]:
    """Type a command; return (response, ack text, job id if queued). Always answered in 3 s."""
    response = slack.send_command("/run-report", text, channel=channel, user=user)
    assert response.status == 200 and response.ok, response
    assert response.elapsed < 3.0, f"ack took {response.elapsed:.2f} s"
    body = response.body
    ack = body.get("text", "") if isinstance(body, dict) else str(body or "")
    match = JOB_ID.search(ack) if "Queued" in ack else None
    return response, ack, match.group(1) if match else None


def statuses(slack, channel: str, job_id: str) -> list[Any]:
    """The job's status messages in the channel (top level, not thread replies)."""
    return [m for m in slack.messages(channel) if job_id in str(m.blocks) and m.thread_ts in (None, "", m.ts)]


def finished(slack, channel: str, job_id: str, timeout: float = 40) -> Any:
    """The job's status message once it says how the job went and its result is in the thread (a
    quick report's status message is posted finished, a moment before the result)."""

    def done() -> Any:
        found = [
            m
            for m in statuses(slack, channel, job_id)
            if re.search(r"(succeeded|failed) (in|after)", str(m.blocks)) and slack.thread(channel, m.ts)
        ]
        return found[0] if found else None

    return slack.wait_for(done, timeout=timeout, message=f"job {job_id} to finish")


def outcome(slack, channel: str, job_ids: list[str], sent: int) -> dict[str, int]:
    """What the channel shows for these jobs: completed, lost and duplicated."""
    completed = duplicated = 0
    for job_id in job_ids:
        status = statuses(slack, channel, job_id)
        replies = slack.thread(channel, status[0].ts) if status else []
        if status and replies and re.search(r"(succeeded|failed) (in|after)", str(status[0].blocks)):
            completed += 1
        if len(status) > 1 or len(replies) > 1:
            duplicated += 1
    return {
        "sent": sent,
        "queued": len(job_ids),
        "completed": completed,
        "lost": len(job_ids) - completed,
        "duplicated": duplicated,
    }


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# ----------------------------------------------------------------------- worker faults


def test_a_worker_killed_mid_report_is_replaced_and_the_job_posts_once(env, slack) -> None:
    channel = "C0KILL"
    first = env.start_worker("doomed")
    _, _, job_id = send(slack, "dawdle seconds=2", channel)
    assert job_id
    slack.wait_for(lambda: statuses(slack, channel, job_id), timeout=20, message="the status message")
    time.sleep(0.5)  # well inside the report
    os.killpg(first.popen.pid, signal.SIGKILL)  # the whole worker: main process and pool, no goodbye
    first.popen.wait(10)
    env.start_worker("replacement")

    final = finished(slack, channel, job_id)
    counts = outcome(slack, channel, [job_id], sent=1)
    COUNTS["worker SIGKILL (whole worker) mid-report"] = counts
    assert counts == {"sent": 1, "queued": 1, "completed": 1, "lost": 0, "duplicated": 0}
    assert "succeeded" in str(final.blocks) and final.edits, (
        "the first status message was updated, not re-posted"
    )
    assert slack.thread(channel, final.ts)[0].text == "done after 2 s"


def test_a_pool_process_killed_mid_report_is_redelivered_and_posts_once(env, slack) -> None:
    channel = "C0OOM"
    worker = env.start_worker("oom")
    _, _, job_id = send(slack, "dawdle seconds=2", channel)
    assert job_id
    slack.wait_for(lambda: statuses(slack, channel, job_id), timeout=20, message="the status message")
    time.sleep(0.5)
    pool = children(worker.popen.pid)
    assert pool, "the prefork pool process"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)  # as the OOM killer would

    finished(slack, channel, job_id)
    counts = outcome(slack, channel, [job_id], sent=1)
    COUNTS["worker pool process SIGKILL (OOM) mid-report"] = counts
    assert counts == {"sent": 1, "queued": 1, "completed": 1, "lost": 0, "duplicated": 0}
    assert "WorkerLostError" in worker.log() and worker.alive()


def test_a_worker_stopped_for_a_deploy_finishes_its_running_job_first(env, slack) -> None:
    channel = "C0DEPLOY"
    worker = env.start_worker("deployed")
    _, _, job_id = send(slack, "dawdle seconds=2", channel)
    assert job_id
    slack.wait_for(lambda: statuses(slack, channel, job_id), timeout=20, message="the status message")
    os.kill(worker.popen.pid, signal.SIGTERM)  # warm shutdown, as systemd/Kubernetes send

    final = finished(slack, channel, job_id)
    assert worker.popen.wait(30) == 0, "the worker exits cleanly once the job is done"
    counts = outcome(slack, channel, [job_id], sent=1)
    COUNTS["worker SIGTERM (deploy) mid-report"] = counts
    assert counts == {"sent": 1, "queued": 1, "completed": 1, "lost": 0, "duplicated": 0}
    assert "succeeded" in str(final.blocks)


# ------------------------------------------------------------------------ broker faults


def test_with_the_broker_down_or_silent_the_user_hears_nothing_was_queued_and_the_bot_recovers(
    env, slack
) -> None:
    channel = "C0BROKER"
    env.start_worker("steady")
    queued: list[str] = []
    told_not_queued = sent = 0
    slowest: list[float] = []

    def attempt(expect_queued: bool) -> None:
        nonlocal told_not_queued, sent
        sent += 1
        response, ack, job_id = send(slack, "ping", channel)
        slowest.append(response.elapsed)
        if job_id:
            queued.append(job_id)
        else:
            assert "Nothing was queued" in ack and "try again" in ack
            told_not_queued += 1
        assert bool(job_id) == expect_queued, ack

    attempt(True)  # the bot holds a pooled connection to the broker
    env.amqp.cut()  # broker down: connections closed, new ones refused
    attempt(False)
    attempt(False)
    env.amqp.blackhole()  # broker unreachable: connections hang, nothing answers
    attempt(False)
    env.amqp.restore()  # back: the bot reconnects on its next publish, no restart
    attempt(True)
    attempt(True)

    for job_id in queued:
        finished(slack, channel, job_id)
    counts = outcome(slack, channel, queued, sent=sent)
    counts["told not queued"] = told_not_queued
    COUNTS["broker down / blackholed when a command arrives"] = {
        **counts,
        "slowest answer (s)": round(max(slowest), 2),
    }
    assert counts == {
        "sent": 6,
        "queued": 3,
        "completed": 3,
        "lost": 0,
        "duplicated": 0,
        "told not queued": 3,
    }
    assert env.bot.alive()
    # Nothing from the outage ran later: only the three confirmed jobs reached the channel.
    tops = [m for m in slack.messages(channel) if m.thread_ts in (None, "", m.ts)]
    assert len(tops) == 3


# --------------------------------------------------------------- a worker's broker faults


def buttons(message: Any) -> list[str]:
    """The action ids of a message's buttons (Cancel while it runs, Run again once it is over)."""
    return [
        e.get("action_id", "")
        for b in message.blocks or []
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def status_answer(slack, channel: str, job_id: str) -> str:
    """What `/run-report status <id>` tells the requester about the job."""
    return send(slack, f"status {job_id}", channel)[1]


def assert_ended_once(slack, channel: str, job_id: str, result: str) -> None:
    """One status message for the job, final (it says how the job went and offers Run again, not
    Cancel), one result in its thread, and `status` says it is over, not running."""
    final = finished(slack, channel, job_id, timeout=90)
    time.sleep(2)  # long enough for a second copy of the job to post, if one were running
    tops = statuses(slack, channel, job_id)
    assert len(tops) == 1, f"one status message, not {len(tops)}"
    assert "succeeded in" in str(tops[0].blocks) and buttons(tops[0]) == [RERUN_ACTION], tops[0].blocks
    assert [r.text for r in slack.thread(channel, final.ts)] == [result]

    def succeeded() -> str:
        text = status_answer(slack, channel, job_id)
        return text if "*succeeded*" in text else ""  # empty: not yet, ask again

    told = wait_until(
        succeeded,
        10,
        interval=0.3,
        what="status to say the job succeeded",
    )
    assert "*running*" not in told


def redelivery_skipped(worker: Process, job_id: str) -> None:
    """Wait until the worker, back on the broker, has been handed the job again (its delivery
    was never acked) and has found it already done."""
    wait_until(
        lambda: re.search(rf"\[job {job_id}\]: job {job_id} \(\w+\) is already succeeded", worker.log()),
        60,
        interval=0.3,
        what=f"the worker to skip the redelivered job {job_id}",
    )


def lost_and_found(worker: Process, job_id: str) -> dict[str, int]:
    """What the worker's log says about the job: runs terminated after the connection loss,
    runs that finished, redeliveries skipped because the job was already over, and deliveries
    that stepped back (retried later) because another delivery of the job was running it."""
    log = worker.log()
    return {
        "runs terminated": log.count("Terminating it instead"),
        "runs finished": len(re.findall(rf"\[job {job_id}\]: job {job_id} \(\w+\) succeeded in", log)),
        "redeliveries skipped": len(
            re.findall(rf"\[job {job_id}\]: job {job_id} \(\w+\) is already succeeded", log)
        ),
        "deliveries stepped back": log.count(f"job {job_id} is being run by another delivery"),
    }


@pytest.mark.parametrize(
    ("fault", "report_seconds", "outage"),
    [
        ("cut", 3, 4),  # the worker hears at once; its report runs on, posts, and cannot ack
        ("blackhole", 3, 4),  # silent past the report's end: its ack goes nowhere
        ("blackhole", 6, 2),  # silent, then dropped while the report still runs
    ],
    ids=["cut", "blackhole-past-the-end", "blackhole-mid-job"],
)
def test_a_worker_that_loses_its_broker_mid_job_ends_the_job_exactly_once(
    env, slack, fault: str, report_seconds: int, outage: float
) -> None:
    """The job's delivery is never acked (the connection it came on is gone), so RabbitMQ hands
    it out again once the path is back: the job still ends once, and that copy is skipped."""
    channel = f"C0LOST{fault[:5].upper()}{report_seconds}"
    with broker_proxy() as path:
        worker = env.start_worker(f"lost-{fault}-{report_seconds}", broker=path)
        _, _, job_id = send(slack, f"dawdle seconds={report_seconds}", channel)
        assert job_id
        running = slack.wait_for(
            lambda: statuses(slack, channel, job_id), timeout=20, message="the status message"
        )
        assert "running" in str(running[0].blocks) and buttons(running[0]) == [CANCEL_ACTION]
        time.sleep(0.5)  # about a second into the report
        getattr(path, fault)()
        time.sleep(outage)
        path.restore()
        redelivery_skipped(worker, job_id)
        assert_ended_once(slack, channel, job_id, f"done after {report_seconds} s")
        seen = lost_and_found(worker, job_id)
        assert worker.alive()
    counts = {**outcome(slack, channel, [job_id], sent=1), **seen}
    COUNTS[f"worker's broker {fault} for {outage:g} s, {report_seconds} s report"] = counts
    print(counts)
    assert counts["completed"] == 1 and counts["lost"] == 0 and counts["duplicated"] == 0


def test_a_worker_that_loses_its_broker_while_posting_a_job_posts_it_once(env, slack) -> None:
    """The connection drops just as a quick job's status message reaches Slack, before its result
    is posted: what a broker restart does to a worker busy with quick jobs, made certain by
    holding Slack's answer for a second."""
    channel = "C0MIDPOST"
    with broker_proxy() as path:
        worker = env.start_worker("mid-post", broker=path)
        cut: list[str] = []

        def cut_once_the_status_is_up(event: dict[str, Any]) -> None:
            message = event.get("message") or {}
            if event.get("type") == "message" and event.get("channel") == channel and not cut:
                if not message.get("thread_ts"):
                    cut.append(message.get("ts", ""))
                    path.cut()
                    time.sleep(1)  # Slack answers late: the worker hears of the loss first

        unsubscribe = slack.subscribe(cut_once_the_status_is_up)
        try:
            _, _, job_id = send(slack, "echo text=once", channel)
            assert job_id
            wait_until(lambda: cut, 20, what="the status message, and the cut")
        finally:
            unsubscribe()
        time.sleep(3)
        path.restore()
        redelivery_skipped(worker, job_id)
        assert_ended_once(slack, channel, job_id, "once")
        seen = lost_and_found(worker, job_id)
    counts = {**outcome(slack, channel, [job_id], sent=1), **seen}
    COUNTS["worker's broker cut as a quick job's status message is posted"] = counts
    print(counts)
    assert counts["completed"] == 1 and counts["lost"] == 0 and counts["duplicated"] == 0


@pytest.mark.timeout(240)
def test_a_job_handed_to_another_worker_while_its_first_runs_on_unheard_posts_once(env, slack) -> None:
    """A worker cut off from RabbitMQ without hearing it (a partition: RabbitMQ has dropped the
    connection after its heartbeat timeout, the worker's own check has not fired yet) still runs
    its job and still reaches Slack and Redis, while RabbitMQ hands the job to another worker:
    the job must still be run to its end once, and posted once."""
    channel = "C0SPLIT"
    with broker_proxy() as path:
        first = env.start_worker("partitioned", broker=path)
        _, _, job_id = send(slack, "dawdle seconds=8", channel)
        assert job_id
        slack.wait_for(lambda: statuses(slack, channel, job_id), timeout=20, message="the status message")
        second = env.start_worker("healthy")  # idle: the queue is empty, the job is on the first
        path.partition()  # RabbitMQ hands the job to the healthy worker; the first runs on
        wait_until(
            lambda: re.search(
                rf"\[job {job_id}\]: job {job_id} \(\w+\) (succeeded in|is already succeeded)", second.log()
            ),
            90,
            interval=0.3,
            what="the second worker to be done with the job",
        )
        assert_ended_once(slack, channel, job_id, "done after 8 s")
        path.restore()
        seen = {
            what: lost_and_found(first, job_id)[what] + lost_and_found(second, job_id)[what]
            for what in lost_and_found(first, job_id)
        }
    counts = {**outcome(slack, channel, [job_id], sent=1), **seen}
    COUNTS["worker partitioned from RabbitMQ mid-job, its job handed to another worker"] = counts
    print(counts)
    assert counts["completed"] == 1 and counts["lost"] == 0 and counts["duplicated"] == 0


QUEUE_COLUMNS = ("list_queues", "-p", VHOST, "name", "durable", "messages", "messages_persistent")


def test_jobs_queued_and_running_survive_a_broker_restart_each_completing_once(env, slack) -> None:
    """A broker restart as the clients live it (the shared RabbitMQ is never restarted): every
    connection of the bot and of the worker is closed and refused for several seconds, with one
    job running and five queued; then the broker is back."""
    channel = "C0RESTART"
    worker = env.start_worker("restarted", broker=env.amqp)  # the bot's proxy: one cut drops both
    sent = 0
    accepted: list[str] = []
    refused: list[str] = []

    def command(text: str) -> str | None:
        nonlocal sent
        sent += 1
        _, ack, job_id = send(slack, text, channel)
        (accepted if job_id else refused).append(job_id or ack)
        return job_id

    long_job = command("dawdle seconds=4")
    assert long_job
    slack.wait_for(lambda: statuses(slack, channel, long_job), timeout=20, message="the long job running")
    queued = [command(f"echo text=queued-{i}") for i in range(5)]
    assert all(queued), "queued while the worker is busy"

    env.amqp.cut()  # the broker goes away: every open connection closed, new ones refused
    outage = time.monotonic()
    during = [command(f"echo text=during-{i}") for i in range(2)]

    # What a real restart would keep: the queues are durable and their messages persistent, the
    # running job's among them (unacked, so back in its queue once its connection closed). One
    # person's jobs past their first few wait on the bulk queue.
    def kept_rows() -> list[tuple[str, ...]]:
        rows = [tuple(r) for r in rabbitmqctl_rows(*QUEUE_COLUMNS) if r[0] in ("reports", "reports.bulk")]
        return rows if sum(int(r[2]) for r in rows) == 6 else []

    kept = wait_until(kept_rows, 5, interval=0.2, what="the queued jobs and the running one in the queues")
    assert all(r[1] == "true" and r[2] == r[3] for r in kept), kept
    time.sleep(max(0.0, 5 - (time.monotonic() - outage)))
    finished(slack, channel, long_job, timeout=1)  # the running job ran on, and posted meanwhile
    env.amqp.restore()  # the broker is back: nothing restarted on our side
    after = [command(f"echo text=after-{i}") for i in range(2)]

    assert not any(during) and all("Nothing was queued" in ack for ack in refused), refused
    assert all(after), "the bot publishes again once the broker is back"
    for job_id in accepted:
        finished(slack, channel, job_id, timeout=90)
    time.sleep(2)  # long enough for a second copy of a job to post, if one were running
    counts = outcome(slack, channel, accepted, sent=sent)
    counts["told not queued"] = len(refused)
    counts["redeliveries skipped"] = lost_and_found(worker, long_job)["redeliveries skipped"]
    COUNTS["broker restart (all connections cut 5 s): 1 running, 5 queued"] = counts
    print(counts)
    assert counts == {
        "sent": 10,
        "queued": 8,
        "completed": 8,
        "lost": 0,
        "duplicated": 0,
        "told not queued": 2,
        "redeliveries skipped": 1,  # the running job's delivery, unacked when the broker went
    }
    tops = [m for m in slack.messages(channel) if m.thread_ts in (None, "", m.ts)]
    assert len(tops) == 8, "one status message per accepted job, none for the refused ones"
    replies = sorted(r.text for m in tops for r in slack.thread(channel, m.ts))
    assert replies == sorted(
        ["done after 4 s"] + [f"queued-{i}" for i in range(5)] + [f"after-{i}" for i in range(2)]
    )
    assert worker.alive() and env.bot.alive()


# ------------------------------------------------------------------------- Redis faults


def test_with_redis_down_jobs_still_run_status_says_so_and_all_recovers_without_restart(env, slack) -> None:
    channel = "C0REDIS"
    env.start_worker("steady")
    env.redis.cut()
    _, ack, during = send(slack, "ping", channel)
    assert during, f"the ack path only publishes, so it works without Redis: {ack}"
    finished(slack, channel, during)  # the worker still posts (without its dedup markers)
    _, status, _ = send(slack, f"status {during}", channel)
    assert "Job records are unavailable" in status and "Jobs still run" in status

    env.redis.restore()
    _, _, after = send(slack, "ping", channel)
    assert after
    finished(slack, channel, after)

    # The record is written just after the status message is updated; ask until it says so.
    def shows_it_finished() -> str:
        text = send(slack, f"status {after}", channel)[1]
        return text if "succeeded" in text else ""  # empty: not yet, ask again

    status = wait_until(
        shows_it_finished,
        10,
        interval=0.3,
        what="status to show the finished job",
    )
    assert f"`{after}`" in status
    counts = outcome(slack, channel, [during, after], sent=2)
    COUNTS["Redis down, then back"] = counts
    assert counts == {"sent": 2, "queued": 2, "completed": 2, "lost": 0, "duplicated": 0}


# ------------------------------------------------------------------------- Slack faults


def test_slack_rate_limits_and_server_errors_are_waited_out_and_the_result_posted_once(env, slack) -> None:
    channel = "C0FLAKY"
    env.start_worker("steady")
    # A report longer than STATUS_GRACE: its status message is posted running, then updated.
    slack.fail("chat.postMessage", None, times=2, status=503)
    slack.fail("chat.update", "ratelimited", times=2, status=429, retry_after=1)
    _, _, job_id = send(slack, "slow seconds=1", channel)
    assert job_id
    final = finished(slack, channel, job_id)
    answers = [r.status for r in slack.requests("chat.postMessage")] + [
        r.status for r in slack.requests("chat.update")
    ]
    assert answers.count(429) == 2 and answers.count(503) == 2, answers
    counts = outcome(slack, channel, [job_id], sent=1)
    COUNTS["Slack 429 (x2) and 503 (x2)"] = counts
    assert counts == {"sent": 1, "queued": 1, "completed": 1, "lost": 0, "duplicated": 0}
    assert slack.thread(channel, final.ts)[0].text == "finally done"


def test_a_slack_connection_outage_is_retried_until_the_result_is_posted(env, slack) -> None:
    channel = "C0NET"
    slack_port = urllib.parse.urlsplit(slack.api_url).port
    with FaultProxy("127.0.0.1", slack_port) as path:
        env.start_worker("cut-off", slack_api_url=path.url("http://", "/api/"))  # Slack only via the proxy
        path.cut()
        _, _, job_id = send(slack, "echo text=eventually", channel)
        assert job_id
        time.sleep(2.5)  # the worker's posts fail: connection refused, retried with backoff
        assert not statuses(slack, channel, job_id)
        path.restore()
        final = finished(slack, channel, job_id, timeout=60)
    counts = outcome(slack, channel, [job_id], sent=1)
    COUNTS["Slack unreachable (connection refused) for 2.5 s"] = counts
    assert counts == {"sent": 1, "queued": 1, "completed": 1, "lost": 0, "duplicated": 0}
    assert slack.thread(channel, final.ts)[0].text == "eventually"


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived", "channel_not_found"])
def test_a_channel_the_bot_cannot_post_in_is_explained_to_the_requester(env, slack, error: str) -> None:
    channel = f"C0{error.upper().replace('_', '')}"[:11]
    env.start_worker("steady")
    if error == "not_in_channel":
        slack.set_channel(channel, member=False)
    elif error == "is_archived":
        slack.set_channel(channel, archived=True)
    else:
        slack.fail("chat.postMessage", "channel_not_found")
    _, _, job_id = send(slack, "ping", channel, user="U0BOB")
    assert job_id
    told = slack.wait_for(
        lambda: [
            e for e in slack.ephemerals(user="U0BOB", channel=channel) if "could not post here" in e.text
        ],
        timeout=20,
        message="word to the requester",
    )
    assert job_id in told[0].text and told[0].source == "response_url"
    assert ("/invite @reportbot" in told[0].text) or ("archived" in told[0].text)
    assert not slack.messages(channel)
    COUNTS.setdefault(
        "channel refuses the bot (not_in_channel, is_archived, channel_not_found)",
        {"sent": 0, "requester told": 0},
    )
    COUNTS["channel refuses the bot (not_in_channel, is_archived, channel_not_found)"]["sent"] += 1
    COUNTS["channel refuses the bot (not_in_channel, is_archived, channel_not_found)"]["requester told"] += 1


def test_a_result_far_over_slacks_limits_is_cut_to_fit_not_rejected(env, slack) -> None:
    channel = "C0HUGE"
    env.start_worker("steady")
    _, _, job_id = send(slack, "huge lines=4000", channel)
    assert job_id
    final = finished(slack, channel, job_id)
    assert "succeeded" in str(final.blocks)
    rejected = [r for r in slack.requests() if isinstance(r.response, dict) and r.response.get("ok") is False]
    assert not rejected, rejected
    reply = slack.thread(channel, final.ts)[0]
    assert reply.blocks and len(reply.blocks) <= 50
    assert all(len((b.get("text") or {}).get("text", "")) <= 3000 for b in reply.blocks)
    # It says what did not fit, and the whole text follows as a file in the same thread.
    assert "attached as `huge.txt`" in str(reply.blocks), reply.blocks
    attached = slack.wait_for(
        lambda: [f for f in slack.files() if f.thread_ts == final.ts and f.completed],
        timeout=20,
        message="the whole text attached in the thread",
    )
    assert [f.name for f in attached] == ["huge.txt"] and attached[0].length > 420_000
    COUNTS["result of 420,000 characters"] = outcome(slack, channel, [job_id], sent=1)


# ------------------------------------------------------------------------ access control


def test_a_restricted_report_is_refused_by_the_bot_and_again_by_the_worker(env, slack) -> None:
    env.start_worker("steady")
    slack.set_usergroup(FINANCE_GROUP, ["U0CAROL"])
    _, boss, boss_job = send(slack, "finance", FINANCE_CHANNEL, user=FINANCE_BOSS)
    _, carol, carol_job = send(slack, "finance", FINANCE_CHANNEL, user="U0CAROL")
    _, mallory, none1 = send(slack, "finance", FINANCE_CHANNEL, user="U0MALLORY")
    _, elsewhere, none2 = send(slack, "finance", "C0GENERAL", user=FINANCE_BOSS)
    assert boss_job and carol_job and not none1 and not none2
    for refusal in (mallory, elsewhere):
        assert "You cannot run `finance` here" in refusal
        assert f"<#{FINANCE_CHANNEL}>" in refusal and f"<@{FINANCE_BOSS}>" in refusal
        assert f"<!subteam^{FINANCE_GROUP}>" in refusal

    # A job forged straight into the queue (no bot involved) is refused by the worker.
    from bot.publish import Publisher
    from tasks.jobs.records import Job
    from tasks.settings import Settings

    forged = Job(id="f0f0f0f0", report="finance", args={}, channel=FINANCE_CHANNEL, user="U0MALLORY")
    Publisher(Settings(celery_broker_url=BROKER)).publish(forged, 30)
    told = slack.wait_for(
        lambda: [e for e in slack.ephemerals(user="U0MALLORY", channel=FINANCE_CHANNEL) if e.source != "ack"],
        timeout=20,
        message="the worker's refusal",
    )
    assert "You cannot run `finance`" in told[0].text
    for job_id in (boss_job, carol_job):
        finished(slack, FINANCE_CHANNEL, job_id)
    assert not statuses(slack, FINANCE_CHANNEL, "f0f0f0f0")
    results = [
        r
        for m in slack.messages(FINANCE_CHANNEL)
        for r in slack.thread(FINANCE_CHANNEL, m.ts)
        if "revenue: 42" in r.text
    ]
    COUNTS["restricted report: 2 allowed, 2 refused by the bot, 1 forged job refused by the worker"] = {
        "sent": 5,
        "ran": len(results),
        "refused": 3,
    }
    assert len(results) == 2


# ------------------------------------------------------------------------------- secrets


def test_the_queued_task_carries_no_secret_and_a_bounded_time_limit(env, slack) -> None:
    from kombu import Connection, Queue

    from tasks.jobs.queues import MAX_TIME_LIMIT, RABBITMQ_CONSUMER_TIMEOUT

    _, _, job_id = send(slack, "marathon", "C0PEEK")  # no worker: the message waits in the queue
    assert job_id
    with Connection(BROKER, connect_timeout=3) as conn:
        message = wait_until(
            lambda: (
                Queue("reports", channel=conn.default_channel).get(no_ack=True)
                or Queue("reports.bulk", channel=conn.default_channel).get(no_ack=True)
            ),
            10,
            what="the task",
        )
    raw = message.body if isinstance(message.body, str) else message.body.decode()
    for secret in SECRETS:
        assert secret not in raw and secret not in json.dumps(message.headers)
    hard, soft = message.headers["timelimit"]
    assert soft <= MAX_TIME_LIMIT and hard < RABBITMQ_CONSUMER_TIMEOUT, (hard, soft)


def test_no_secret_reaches_a_log_a_result_or_an_error_message(env, slack) -> None:
    channel = "C0LEAK"
    env.start_worker("steady")
    _, _, job_id = send(slack, "leaky", channel)
    assert job_id
    final = finished(slack, channel, job_id)
    error = slack.thread(channel, final.ts)[0].text
    # The channel gets the error's kind, never its text (`tasks.errors.UserError` is for that).
    assert "RuntimeError" in error and "could not log in" not in error, error
    env.stop_workers()
    seen = [m.text + json.dumps(m.blocks) for ms in slack.workspace.all_messages().values() for m in ms]
    seen += [e.text for e in slack.ephemerals()]
    logs = [path.read_text(errors="replace") for path in env.logs]
    assert len(logs) >= 2 and any("leaky" in log for log in logs)
    assert not [t for t in seen if secrets_in(t)], "a secret in a Slack message"
    assert not {str(p): secrets_in(log) for p, log in zip(env.logs, logs, strict=True) if secrets_in(log)}
