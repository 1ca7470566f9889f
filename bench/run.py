"""`python -m bench`: the speed users feel, against the floor and against a naive bot, in one run.

Phases, each repeated `--rounds` times so every figure is a median with its spread:
  ack        `/run-report ping` over HTTP, 8 senders: the floor (ack-only Bolt app, same server),
             ours (during the burst, one worker consuming) and the naive bot.
  idle e2e   one command at a time, sent → its result in the thread under a status message that
             says how it went; the floor is a raw Celery no-op round trip on the same broker.
  burst      the ack load's jobs: e2e latency of each, and completed jobs per second, with one
             worker process and with two; the same for the naive bot, its rounds and ours in
             turn, so a machine whose speed drifts during the run weighs on both alike.
  digest     one job per channel to N channels published as a digest dispatch does: with no
             limit, then with the fake Slack limiting chat.postMessage per channel (429 +
             Retry-After) strictly (burst 1) and with Slack's short bursts (burst 3); the strict
             one also against the no-limit digest plus one refill per channel: what is left
             over is pacing's own cost.
  memory     RSS of the bot and of one worker (main and pool processes), at rest and after.
  TLS        idle e2e and the one-worker burst again, ours and the naive bot, with the fake serving
             the Web API over TLS as Slack does (HTTPS only): a client that opens a connection per
             call pays a handshake on each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Sent, Watcher, send_burst, watch
from bench.processes import (
    BOT_TOKEN,
    PY,
    SIGNING_SECRET,
    Process,
    Services,
    children,
    cpu_seconds,
    pids_of,
    rss_kib,
    start_http,
    start_worker,
)
from bench.stats import Figure, percentile
from sandbox import FakeSlack, make_certificate
from tasks.slack.pacing import MEMORY as PACING_MEMORY

# chat.postMessage calls per job in one channel; chat.update is not limited in the fake.
MESSAGES_PER_JOB = 2  # a command's job: its status message, then the result in its thread
MESSAGES_PER_DIGEST = 1  # a schedule's run: its one message (tasks.rendering.messages.digest_message)
# Where the CPU of a burst goes, by process. On one machine they all share the same cores, so
# throughput is total CPU per job; this says whose.
CPU_PARTS = ("bench (fake Slack, senders)", "bot", "workers", "RabbitMQ", "Redis")


def cpu_snapshot(bot: Process | None, workers: list[Process]) -> dict[str, float]:
    """CPU seconds so far of each part (the bench's own process without the children it reaped)."""
    return {
        CPU_PARTS[0]: cpu_seconds(os.getpid(), reaped_children=False),
        CPU_PARTS[1]: cpu_seconds(bot.pid) if bot else 0.0,
        CPU_PARTS[2]: sum(cpu_seconds(p) for w in workers for p in (w.pid, *children(w.pid))),
        CPU_PARTS[3]: sum(cpu_seconds(p) for p in pids_of("beam.smp")),
        CPU_PARTS[4]: sum(cpu_seconds(p) for p in pids_of("redis-server")),
    }


def workers_main(workers: list[Process]) -> float:
    """CPU seconds so far of the workers' main processes alone (their pool processes are the rest
    of the "workers" part): a job retried after a 429 costs in both, as the main process holds
    it until it is due."""
    return sum(cpu_seconds(w.pid, reaped_children=False) for w in workers)


def cpu_per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
    """Milliseconds of CPU per job, by part, and their total."""
    per = {part: (after[part] - before[part]) * 1000 / jobs for part in CPU_PARTS}
    return {**per, "total": sum(per.values())}


@dataclass
class Sizes:
    rounds: int = 5
    commands: int = 500
    concurrency: int = 8
    idle_jobs: int = 20
    digest_channels: int = 500
    digest_workers: int = 2
    rate: float = 1.0
    rate_burst: int = 1
    slack_burst: int = 3  # "short bursts allowed", as Slack documents chat.postMessage's limit


QUICK = Sizes(rounds=1, commands=24, concurrency=4, idle_jobs=3, digest_channels=8)


@dataclass
class Results:
    figures: dict[str, Figure] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.figures.setdefault(name, Figure([])).runs.append(value)

    def median(self, name: str) -> float:
        return self.figures[name].median if name in self.figures else float("nan")


class Bench:
    """One bench run: the fake Slack, this run's vhost and prefix, and the processes under test."""

    def __init__(self, sizes: Sizes, services: Services, logs: Path) -> None:
        self.sizes = sizes
        self.services = services
        self.logs = logs
        self.results = Results()
        self.slack = FakeSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN).start()
        self.watcher, self._unsubscribe = watch(self.slack)
        self.env = services.env(self.slack.api_url)
        self.processes: list[Process] = []
        self._channel = 0

    def close(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self._unsubscribe()
        self.slack.stop()

    def _start(self, proc: Process) -> Process:
        self.processes.append(proc)
        return proc

    def _stop(self, proc: Process) -> None:
        proc.stop()
        self.processes.remove(proc)

    def channels(self, n: int) -> list[str]:
        first, self._channel = self._channel, self._channel + n
        return [f"CB{i:06d}" for i in range(first, first + n)]

    def use(self, bot: Process, slack: FakeSlack | None = None) -> None:
        (slack or self.slack).bot_url = f"http://127.0.0.1:{bot.port}/slack/events"

    # ------------------------------------------------------------------ phases

    def ack_only(self, name: str, bot: Process) -> None:
        self.use(bot)
        for _ in range(self.sizes.rounds):
            sent = send_burst(self.slack, "ping", self.channels(self.sizes.commands), self.sizes.concurrency)
            self._record_acks(name, sent)
            self.slack.reset()

    def purge_queue(self) -> None:
        from kombu import Connection

        from tasks.jobs.queues import QUEUE

        with Connection(self.services.broker_url) as conn:
            conn.default_channel.queue_purge(QUEUE)

    def _record_acks(self, name: str, sent: list[Sent]) -> None:
        failed = [s for s in sent if not s.ok]
        if failed:
            raise RuntimeError(f"{name}: {len(failed)} of {len(sent)} commands were not acked")
        acks = [s.ack_seconds * 1000 for s in sent]
        self.results.add(f"ack p50 ms [{name}]", percentile(acks, 50))
        self.results.add(f"ack p99 ms [{name}]", percentile(acks, 99))

    def burst(
        self,
        name: str,
        bot: Process,
        workers: list[Process],
        slack: FakeSlack | None = None,
        watcher: Watcher | None = None,
    ) -> None:
        """The ack load against a bot whose workers run, `rounds` times: ack, e2e under burst,
        throughput, and the CPU each process spent per job. `slack` and its `watcher`: another
        fake than the run's own (the TLS phase)."""
        for _ in range(self.sizes.rounds):
            self._burst_round(name, bot, workers, slack, watcher)

    def alternate_bursts(self, *systems: tuple[str, Process, list[Process]]) -> None:
        """`burst` for several systems, a round of each in turn, so a machine that gets slower
        or faster during the run weighs on each alike (their workers consume different queues;
        the others' wait idle)."""
        for _ in range(self.sizes.rounds):
            for name, bot, workers in systems:
                self._burst_round(name, bot, workers)

    def _burst_round(
        self,
        name: str,
        bot: Process,
        workers: list[Process],
        slack: FakeSlack | None = None,
        watcher: Watcher | None = None,
    ) -> None:
        slack, watcher = slack or self.slack, watcher or self.watcher
        self.use(bot, slack)
        n = self.sizes.commands
        channels = self.channels(n)
        cpu_before = cpu_snapshot(bot, workers)
        started = time.monotonic()
        sent = send_burst(slack, "ping", channels, self.sizes.concurrency)
        if not watcher.wait_done(channels, timeout=max(60.0, n * 0.5)):
            lost, _ = watcher.lost_and_duplicated(channels)
            raise RuntimeError(f"{name}: {lost} of {n} jobs never finished")
        for part, ms in cpu_per_job(cpu_before, cpu_snapshot(bot, workers), n).items():
            self.results.add(f"cpu ms/job {part} [{name}]", ms)
        self._record_acks(name, sent)
        done = [watcher.done_at[s.channel] for s in sent]
        e2e = [(d - s.sent_at) * 1000 for d, s in zip(done, sent, strict=True)]
        self.results.add(f"burst e2e p50 ms [{name}]", percentile(e2e, 50))
        self.results.add(f"burst e2e p99 ms [{name}]", percentile(e2e, 99))
        self.results.add(f"jobs/s [{name}]", n / (max(done) - started))
        lost, dup = watcher.lost_and_duplicated(channels)
        if lost or dup:
            raise RuntimeError(f"{name}: {lost} lost, {dup} duplicated")
        slack.reset()

    def over_tls(self, ours: Process, naive: Process) -> None:
        """Idle e2e and the one-worker burst of ours and of the naive bot, the Web API over TLS.

        Slack serves HTTPS only. Our workers keep one connection per pool process
        (`tasks.slack.kept_alive`); slack_sdk's default WebClient, the naive bot's, opens one, so shakes
        hands, on every call. The fake's side of those handshakes is Slack's CPU in production,
        but here it shares the cores: it shows in the bench part of CPU per job.
        """
        cert = make_certificate(self.logs / "tls")
        slack = FakeSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, tls=cert).start()
        watcher, unsubscribe = watch(slack)
        env = {**self.services.env(slack.api_url), "SSL_CERT_FILE": str(cert.cert)}
        try:
            for name, app, bot in (("ours", "tasks", ours), ("naive", "bench.naive_tasks", naive)):
                worker = self._start(start_worker(f"{name}-tls", app, env, self.logs))
                try:
                    self.idle(f"{name}, TLS", bot, slack, watcher)
                    self.burst(f"{name}, 1 worker, TLS", bot, [worker], slack, watcher)
                finally:
                    self._stop(worker)
        finally:
            unsubscribe()
            slack.stop()

    def idle(
        self, name: str, bot: Process, slack: FakeSlack | None = None, watcher: Watcher | None = None
    ) -> None:
        """One command at a time: sent → result in the thread and status updated."""
        slack, watcher = slack or self.slack, watcher or self.watcher
        self.use(bot, slack)
        for _ in range(self.sizes.rounds):
            e2e = []
            for channel in self.channels(self.sizes.idle_jobs):
                sent = send_burst(slack, "ping", [channel], 1)[0]
                if not sent.ok or not watcher.wait_done([channel], timeout=30):
                    raise RuntimeError(f"{name}: the idle ping in {channel} did not finish")
                e2e.append((watcher.done_at[channel] - sent.sent_at) * 1000)
                time.sleep(0.02)
            self.results.add(f"idle e2e p50 ms [{name}]", percentile(e2e, 50))
            self.results.add(f"idle e2e p99 ms [{name}]", percentile(e2e, 99))
            slack.reset()

    def celery_floor(self) -> None:
        """A raw Celery no-op round trip on the same broker (rpc:// result over RabbitMQ)."""
        from celery import Celery

        from bench.noop_tasks import NOOP, NOOP_QUEUE

        worker = self._start(start_worker("noop", "bench.noop_tasks", self.env, self.logs, "--concurrency=1"))
        client = Celery("bench-driver", broker=self.services.broker_url, backend="rpc://")
        try:
            client.send_task(NOOP, queue=NOOP_QUEUE).get(timeout=30)  # connect and declare first
            for _ in range(self.sizes.rounds):
                trips = []
                for _ in range(self.sizes.idle_jobs):
                    started = time.monotonic()
                    client.send_task(NOOP, queue=NOOP_QUEUE).get(timeout=30)
                    trips.append((time.monotonic() - started) * 1000)
                    time.sleep(0.02)
                self.results.add("idle e2e p50 ms [celery no-op]", percentile(trips, 50))
                self.results.add("idle e2e p99 ms [celery no-op]", percentile(trips, 99))
        finally:
            client.close()
            self._stop(worker)

    def _digest_once(
        self, burst: int | None, workers: list[Process], schedule: bool = True
    ) -> dict[str, Any]:
        """N channels, one job each, published as a schedule's dispatch would; `burst=None` runs
        it without a rate limit, else the fake Slack limits chat.postMessage per channel.
        `schedule=False` publishes them as commands' jobs instead (status message, result in
        its thread): a burst of commands, one in each of N channels."""
        from bot.publish import Publisher
        from tasks.jobs.records import Job, new_job_id
        from tasks.settings import load_settings

        s = self.sizes
        settings = load_settings(environ=self.env, dotenv=None)
        publisher = Publisher(settings)
        # Each digest starts as a worker would after a quiet while: not still pacing its jobs
        # because of the refusals of the digest before it (tasks.slack.pacing).
        time.sleep(PACING_MEMORY)
        self.slack.reset()
        if burst is not None:
            self.slack.rate_limit_post_message(s.rate, burst)
        channels = self.channels(s.digest_channels)
        cpu_before = cpu_snapshot(None, workers)
        main_before = workers_main(workers)
        started = time.monotonic()
        for channel in channels:
            job = Job(
                id=new_job_id(),
                report="ping",
                args={},
                channel=channel,
                user="U0BENCH",
                schedule_id="bench-digest" if schedule else "",
            )
            publisher.publish(job, settings.report_time_limit)
        finished = self.watcher.wait_done(
            channels, timeout=max(120.0, 2.0 * s.digest_channels), digest=schedule
        )
        took = (
            max(self.watcher.finished(digest=schedule).get(c, time.monotonic()) for c in channels) - started
        )
        lost, dup = self.watcher.lost_and_duplicated(channels, digest=schedule)
        limited = sum(1 for r in self.slack.requests("chat.postMessage") if r.status == 429)
        cpu = cpu_per_job(cpu_before, cpu_snapshot(None, workers), s.digest_channels)
        main = (workers_main(workers) - main_before) * 1000 / s.digest_channels
        split = {"main": main, "pool": cpu[CPU_PARTS[2]] - main}
        self.slack.reset()
        return {
            "seconds": took,
            "lost": lost,
            "duplicated": dup,
            "answered_429": limited,
            "finished": finished,
            "cpu_ms_per_job": cpu,
            "workers_cpu_ms_per_job": split,
        }

    def digest(self, workers: list[Process]) -> None:
        """The digest without limits, under the strict limit (burst 1) and under short bursts;
        then the same fan-out as commands' jobs, without a limit and under the strict one;
        `rounds` times: a figure is the median of the rounds, as for the other phases.

        What the limits allow on this machine: a channel's next message cannot go out before its
        bucket refills, and the jobs cannot finish sooner than the same workers finish the same
        fan-out with no limit at all (measured just before, same round). A digest posts one
        message a channel, so the limit never holds it up; a command's job posts two, and under
        the strict limit the second waits for a refill.
        """
        s = self.sizes
        per_channel = max(0, MESSAGES_PER_DIGEST - s.rate_burst) / s.rate
        per_channel_commands = max(0, MESSAGES_PER_JOB - s.rate_burst) / s.rate
        rounds = []
        for _ in range(s.rounds):
            free = self._digest_once(None, workers)
            strict = self._digest_once(s.rate_burst, workers)
            bursty = self._digest_once(s.slack_burst, workers)
            commands_free = self._digest_once(None, workers, schedule=False)
            commands_strict = self._digest_once(s.rate_burst, workers, schedule=False)
            bound = max(per_channel, free["seconds"])
            # Each result one refill after its own status message, had waiting cost nothing;
            # what is left over is pacing's own cost (tasks.slack.pacing).
            commands_floor = commands_free["seconds"] + per_channel_commands
            for label, value in (
                ("digest s [no limit]", free["seconds"]),
                (f"digest s [burst {s.rate_burst}]", strict["seconds"]),
                (f"digest s [burst {s.slack_burst}]", bursty["seconds"]),
                ("digest bound s", bound),
                (f"digest ratio [burst {s.rate_burst}]", strict["seconds"] / bound),
                (f"digest ratio [burst {s.slack_burst}]", bursty["seconds"] / free["seconds"]),
                ("digest cpu ms/job [no limit]", free["cpu_ms_per_job"]["total"]),
                (f"digest cpu ms/job [burst {s.rate_burst}]", strict["cpu_ms_per_job"]["total"]),
                (f"digest cpu ms/job [burst {s.slack_burst}]", bursty["cpu_ms_per_job"]["total"]),
                ("commands fan-out s [no limit]", commands_free["seconds"]),
                (f"commands fan-out s [burst {s.rate_burst}]", commands_strict["seconds"]),
                ("commands fan-out no limit + refill s", commands_floor),
                (
                    f"commands fan-out ratio to no limit + refill [burst {s.rate_burst}]",
                    commands_strict["seconds"] / commands_floor,
                ),
                ("commands fan-out cpu ms/job [no limit]", commands_free["cpu_ms_per_job"]["total"]),
                (
                    f"commands fan-out cpu ms/job [burst {s.rate_burst}]",
                    commands_strict["cpu_ms_per_job"]["total"],
                ),
                *(
                    (f"digest workers {part} ms/job [{label}]", run["workers_cpu_ms_per_job"][part])
                    for label, run in (("no limit", free), (f"burst {s.rate_burst}", strict))
                    for part in ("main", "pool")
                ),
            ):
                self.results.add(label, value)
            rounds.append(
                {
                    "bound_seconds": bound,
                    "ratio": strict["seconds"] / bound,
                    "unthrottled": free,
                    f"burst {s.rate_burst}": strict,
                    f"burst {s.slack_burst}": bursty,
                    "commands, unthrottled": commands_free,
                    f"commands, burst {s.rate_burst}": commands_strict,
                }
            )
        runs = [
            r[key]
            for r in rounds
            for key in (
                f"burst {s.rate_burst}",
                f"burst {s.slack_burst}",
                "unthrottled",
                "commands, unthrottled",
                f"commands, burst {s.rate_burst}",
            )
        ]
        self.results.facts["digest"] = {
            "channels": s.digest_channels,
            "per_channel_bound": per_channel,
            "per_channel_bound_commands": per_channel_commands,
            "rounds": rounds,
            "lost": sum(run["lost"] for run in runs),
            "duplicated": sum(run["duplicated"] for run in runs),
            f"answered_429 [burst {s.rate_burst}]": [
                r[f"burst {s.rate_burst}"]["answered_429"] for r in rounds
            ],
            f"answered_429 [burst {s.slack_burst}]": [
                r[f"burst {s.slack_burst}"]["answered_429"] for r in rounds
            ],
            f"answered_429 [commands, burst {s.rate_burst}]": [
                r[f"commands, burst {s.rate_burst}"]["answered_429"] for r in rounds
            ],
        }

    def digest_only(self) -> Results:
        """Only the digest phase, with its workers: for working on the digest without the rest."""
        self.results.facts["load before"] = load_average()
        workers = [
            self._start(start_worker(f"ours-{n}", "tasks", self.env, self.logs))
            for n in range(1, self.sizes.digest_workers + 1)
        ]
        self.digest(workers)
        self.results.facts["load after"] = load_average()
        return self.results

    def memory(self, label: str, bot: Process, worker: Process) -> None:
        pool = [rss_kib(p) for p in children(worker.pid)]
        self.results.facts[f"memory {label}"] = {
            "bot": rss_kib(bot.pid),
            "worker main": rss_kib(worker.pid),
            "worker pool (each, max)": max(pool, default=0),
            "pool processes": len(pool),
        }

    # -------------------------------------------------------------------- all

    def run(self) -> Results:
        s = self.sizes
        r = self.results
        r.facts["load before"] = load_average()
        floor = self._start(start_http("floor-bot", [PY, "-m", "bench.floor_bot"], self.env, self.logs))
        floor_in_thread = self._start(
            start_http(
                "floor-bot-pbr",
                [PY, "-m", "bench.floor_bot", "--process-before-response"],
                self.env,
                self.logs,
            )
        )
        ours = self._start(start_http("bot", [PY, "run.py", "bot"], self.env, self.logs))
        naive = self._start(start_http("naive-bot", [PY, "-m", "bench.naive_bot"], self.env, self.logs))

        self.celery_floor()
        self.ack_only("floor", floor)
        self.ack_only("floor, in the request thread", floor_in_thread)
        self._stop(floor_in_thread)
        # Our bot under the same load as the floor: no worker yet, so the two bots compete for
        # the CPUs alike; the jobs it queued are thrown away before the workers start.
        self.ack_only("ours, bot alone", ours)
        self.purge_queue()

        first = self._start(start_worker("ours-1", "tasks", self.env, self.logs))
        naive_first = self._start(start_worker("naive-1", "bench.naive_tasks", self.env, self.logs))
        self.memory("at rest", ours, first)
        self.idle("ours", ours)
        self.idle("naive", naive)
        self.alternate_bursts(("ours, 1 worker", ours, [first]), ("naive, 1 worker", naive, [naive_first]))
        self.memory("after burst", ours, first)
        second = self._start(start_worker("ours-2", "tasks", self.env, self.logs))
        naive_second = self._start(start_worker("naive-2", "bench.naive_tasks", self.env, self.logs))
        self.alternate_bursts(
            ("ours, 2 workers", ours, [first, second]),
            ("naive, 2 workers", naive, [naive_first, naive_second]),
        )
        for proc in (naive_first, naive_second):  # nothing else may take the TLS phase's jobs
            self._stop(proc)
        if s.digest_workers == 1:
            self._stop(second)
        self.digest([w for w in (first, second) if w in self.processes])
        for proc in (first, second):
            if proc in self.processes:
                self._stop(proc)
        self.over_tls(ours, naive)
        r.facts["load after"] = load_average()
        return r


# ---------------------------------------------------------------------- report


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def machine() -> dict[str, str]:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    mem = run("free", "-h").splitlines()
    redis_version = next(
        (
            ln.split(":")[1]
            for ln in run("redis-cli", "info", "server").splitlines()
            if ln.startswith("redis_version:")
        ),
        "?",
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": run("nproc"),
        "memory": mem[1].split()[1] if len(mem) > 1 else "?",
        "python": platform.python_version(),
        "rabbitmq": run("rabbitmqctl", "version"),
        "redis": redis_version,
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
    }


def _row(figure: str, ours: str, ref: str, target: str, met: str, noise: str) -> str:
    return f"| {figure} | {ours} | {ref} | {target} | {met} | {noise} |"


def table(results: Results, sizes: Sizes) -> str:
    f = results.figures
    m = results.median

    def val(name: str) -> str:
        return f"{m(name):.1f}" if name in f else "n/a"

    def noise(*names: str) -> str:
        return " / ".join(f[n].spread for n in names if n in f) or "-"

    def verdict(ok: bool) -> str:
        return "yes" if ok else "NO"

    def versus(figure: str, ours: str, naive: str) -> str:
        """A row of ours against the naive bot, with no target of its own."""
        return _row(figure, val(ours), f"naive {val(naive)}", "-", "-", noise(ours, naive))

    def throughput_row(figure: str, phase: str) -> str:
        ours, naive = f"jobs/s [ours, {phase}]", f"jobs/s [naive, {phase}]"
        ratio = m(ours) / m(naive)
        return _row(
            figure,
            val(ours),
            f"naive {val(naive)}",
            "≥ naive",
            verdict(ratio >= 1) + f" ({ratio:.2f}×)",
            noise(ours, naive),
        )

    def cpu_rows(parts: tuple[str, ...], phase: str, label: str) -> list[str]:
        keys = (
            (part, f"cpu ms/job {part} [ours, {phase}]", f"cpu ms/job {part} [naive, {phase}]")
            for part in parts
        )
        return [
            _row(
                f"CPU per job, ms, {part} ({label})",
                f"{m(ours):.2f}" if ours in f else "n/a",
                f"naive {m(naive):.2f}" if naive in f else "n/a",
                "-",
                "-",
                noise(ours, naive),
            )
            for part, ours, naive in keys
        ]

    lines = [
        _row("figure", "ours", "reference", "target", "met", "noise (ours / ref)"),
        _row("---", "---", "---", "---", "---", "---"),
    ]
    a50, f50 = m("ack p50 ms [ours, bot alone]"), m("ack p50 ms [floor]")
    a99 = m("ack p99 ms [ours, bot alone]")
    lines.append(
        _row(
            f"ack p50, ms ({sizes.commands} cmds, {sizes.concurrency} senders)",
            val("ack p50 ms [ours, bot alone]"),
            f"floor {val('ack p50 ms [floor]')}",
            "≤ 1.5× floor",
            verdict(a50 <= 1.5 * f50) + f" ({a50 / f50:.2f}×)",
            noise("ack p50 ms [ours, bot alone]", "ack p50 ms [floor]"),
        )
    )
    lines.append(
        _row(
            "ack p99, ms",
            val("ack p99 ms [ours, bot alone]"),
            f"floor {val('ack p99 ms [floor]')}",
            "< 100 ms",
            verdict(a99 < 100),
            noise("ack p99 ms [ours, bot alone]", "ack p99 ms [floor]"),
        )
    )
    t50 = m("ack p50 ms [floor, in the request thread]")
    lines.append(
        _row(
            "ack p50, ms, floor configured as ours (process_before_response)",
            val("ack p50 ms [ours, bot alone]"),
            f"floor {val('ack p50 ms [floor, in the request thread]')}",
            "-",
            f"{a50 / t50:.2f}×",
            noise("ack p50 ms [ours, bot alone]", "ack p50 ms [floor, in the request thread]"),
        )
    )
    for p in ("p50", "p99"):
        lines.append(
            versus(
                f"ack {p}, ms, while 1 worker runs the burst",
                f"ack {p} ms [ours, 1 worker]",
                f"ack {p} ms [naive, 1 worker]",
            )
        )
    for p in ("p50", "p99"):
        lines.append(
            _row(
                f"idle e2e {p}, ms",
                val(f"idle e2e {p} ms [ours]"),
                f"celery no-op {val(f'idle e2e {p} ms [celery no-op]')}, naive {val(f'idle e2e {p} ms [naive]')}",
                "-",
                "-",
                noise(f"idle e2e {p} ms [ours]", f"idle e2e {p} ms [celery no-op]"),
            )
        )
    for p in ("p50", "p99"):
        lines.append(
            versus(
                f"burst e2e {p}, ms (1 worker)",
                f"burst e2e {p} ms [ours, 1 worker]",
                f"burst e2e {p} ms [naive, 1 worker]",
            )
        )
    for w in ("1 worker", "2 workers"):
        lines.append(throughput_row(f"throughput, jobs/s ({w})", w))
    lines += cpu_rows((*CPU_PARTS, "total"), "1 worker", "1 worker burst")
    for p in ("p50", "p99"):
        lines.append(
            versus(
                f"idle e2e {p}, ms, Slack over TLS",
                f"idle e2e {p} ms [ours, TLS]",
                f"idle e2e {p} ms [naive, TLS]",
            )
        )
    for p in ("p50", "p99"):
        lines.append(
            versus(
                f"burst e2e {p}, ms (1 worker), Slack over TLS",
                f"burst e2e {p} ms [ours, 1 worker, TLS]",
                f"burst e2e {p} ms [naive, 1 worker, TLS]",
            )
        )
    lines.append(throughput_row("throughput, jobs/s (1 worker), Slack over TLS", "1 worker, TLS"))
    lines += cpu_rows(
        (CPU_PARTS[0], CPU_PARTS[2], "total"), "1 worker, TLS", "1 worker burst, Slack over TLS"
    )
    d = results.facts.get("digest")
    if d:
        strict, bursty = f"burst {sizes.rate_burst}", f"burst {sizes.slack_burst}"
        ratio = m(f"digest ratio [{strict}]")
        lost = f"{d['lost']} lost, {d['duplicated']} dup"
        lines.append(
            _row(
                f"digest to {d['channels']} channels, s ({sizes.rate:g} msg/s/channel, {strict})",
                val(f"digest s [{strict}]"),
                f"limits allow {val('digest bound s')} (no limit: {val('digest s [no limit]')}); "
                f"{'/'.join(map(str, d[f'answered_429 [{strict}]']))} × 429; "
                f"CPU {val(f'digest cpu ms/job [{strict}]')} ms/job (no limit: {val('digest cpu ms/job [no limit]')})",
                "≤ 1.1× allowed, 0 lost, 0 dup",
                verdict(ratio <= 1.1 and not d["lost"] and not d["duplicated"]) + f" ({ratio:.2f}×, {lost})",
                noise(f"digest s [{strict}]", "digest bound s"),
            )
        )
        main, pool = (m(f"digest workers {part} ms/job [{strict}]") for part in ("main", "pool"))
        main0, pool0 = (m(f"digest workers {part} ms/job [no limit]") for part in ("main", "pool"))
        lines.append(
            _row(
                f"digest CPU per job, ms, workers' main / pool processes ({strict})",
                f"{main:.2f} / {pool:.2f}",
                f"no limit {main0:.2f} / {pool0:.2f}",
                "-",
                "-",
                noise(f"digest workers pool ms/job [{strict}]", "digest workers pool ms/job [no limit]"),
            )
        )
        lines.append(
            _row(
                f"digest to {d['channels']} channels, s ({sizes.rate:g} msg/s/channel, {bursty})",
                val(f"digest s [{bursty}]"),
                f"no limit {val('digest s [no limit]')}; "
                f"{'/'.join(map(str, d[f'answered_429 [{bursty}]']))} × 429; CPU {val(f'digest cpu ms/job [{bursty}]')} ms/job",
                "-",
                f"{m(f'digest ratio [{bursty}]'):.2f}×, {lost}",
                noise(f"digest s [{bursty}]", "digest s [no limit]"),
            )
        )
        lines.append(
            _row(
                f"commands' jobs to {d['channels']} channels, s ({sizes.rate:g} msg/s/channel, {strict}), "
                "status message + result in its thread",
                val(f"commands fan-out s [{strict}]"),
                f"no limit {val('commands fan-out s [no limit]')} + {d['per_channel_bound_commands']:g} s: "
                f"{val('commands fan-out no limit + refill s')}; "
                f"{'/'.join(map(str, d[f'answered_429 [commands, {strict}]']))} × 429; "
                f"CPU {val(f'commands fan-out cpu ms/job [{strict}]')} ms/job "
                f"(no limit: {val('commands fan-out cpu ms/job [no limit]')})",
                "-",
                f"{m(f'commands fan-out ratio to no limit + refill [{strict}]'):.2f}×",
                noise(f"commands fan-out s [{strict}]", "commands fan-out no limit + refill s"),
            )
        )
    for label in ("at rest", "after burst"):
        mem = results.facts.get(f"memory {label}")
        if mem:
            lines.append(
                _row(
                    f"RSS {label}, MiB",
                    f"bot {mem['bot'] / 1024:.0f}",
                    f"worker main {mem['worker main'] / 1024:.0f}, pool {mem['worker pool (each, max)'] / 1024:.0f} × {mem['pool processes']}",
                    "-",
                    "-",
                    "1 run",
                )
            )
    return "\n".join(lines)


def parse(argv: list[str]) -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--rounds", type=int, help="runs of each phase (default 5)")
    parser.add_argument("--commands", type=int, help="commands per burst (default 500)")
    parser.add_argument("--concurrency", type=int, help="concurrent senders (default 8)")
    parser.add_argument("--idle-jobs", type=int, help="sequential pings per idle round (default 20)")
    parser.add_argument("--digest-channels", type=int, help="channels of the digest (default 500)")
    parser.add_argument(
        "--broker", default="amqp://guest:guest@127.0.0.1:5672", help="RabbitMQ, without vhost"
    )
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/15", help="Redis (a key prefix of its own is used)"
    )
    parser.add_argument(
        "--queue-type",
        choices=("classic", "quorum"),
        default="classic",
        help="CELERY_QUEUE_TYPE of our bot and workers (default classic)",
    )
    parser.add_argument(
        "--queue-version",
        type=int,
        choices=(1, 2),
        default=2,
        help="storage version of the run's classic queues, set by policy (default 2, as "
        "deploy/ sets up; 1 is what RabbitMQ up to 4.1 starts a queue on)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--digest-only", action="store_true", help="run only the digest phase and print its rows"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    for name in ("rounds", "commands", "concurrency", "idle_jobs", "digest_channels"):
        if getattr(args, name) is not None:
            setattr(sizes, name, getattr(args, name))
    return sizes, args


def main(argv: list[str] | None = None) -> int:
    sizes, args = parse(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    info = machine()
    info["classic queues"] = f"v{args.queue_version}, by policy"
    logs = Path(tempfile.mkdtemp(prefix="reportbot-bench-"))
    print(f"reportbot bench: {info['command']}  ({json.dumps(asdict(sizes))})", flush=True)
    with Services(
        args.broker, args.redis, queue_type=args.queue_type, queue_version=args.queue_version
    ) as services:
        bench = Bench(sizes, services, logs)
        try:
            results = bench.digest_only() if args.digest_only else bench.run()
        finally:
            bench.close()
    info["took"] = f"{time.monotonic() - started:.0f} s"
    info["load (1/5/15 min) before → after"] = (
        f"{results.facts['load before']} → {results.facts['load after']}"
    )
    print()
    print("  ".join(f"{k}: {v}" for k, v in info.items()))
    print()
    rows = table(results, sizes).splitlines()
    print(
        "\n".join(
            rows[:2] + [r for r in rows[2:] if r.startswith(("| digest", "| commands' jobs"))]
            if args.digest_only
            else rows
        )
    )
    print(f"\nprocess logs: {logs}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "sizes": asdict(sizes),
                    "figures": {k: {"median": v.median, "runs": v.runs} for k, v in results.figures.items()},
                    "facts": results.facts,
                },
                indent=2,
                default=str,
            )
        )
    return 0
