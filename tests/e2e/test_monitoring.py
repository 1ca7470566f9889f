"""Monitoring, as an operator sees it: metrics Prometheus can scrape, JSON logs, Flower behind auth.

A bot and a worker of this module's own (own RabbitMQ virtual host, own fake Slack), started
as an operator would with LOG_FORMAT=json and a worker metrics port, so what they log and count
is theirs alone.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    APP_TOKEN,
    BOT_TOKEN,
    BROKER_ROOT,
    REDIS_PREFIX,
    REDIS_URL,
    ROOT,
    SESSION,
    SIGNING_SECRET,
    WORKER_OPTIONS,
    Process,
    Services,
    base_env,
    free_port,
    start_http,
    start_worker,
    wait_until,
)

if TYPE_CHECKING:
    from sandbox import FakeSlack

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
CHANNEL = "C0MONITOR"
FLOWER_AUTH = "ops:flower-pass-4711"


@dataclass
class Deployment:
    slack: FakeSlack
    bot: Process
    worker: Process
    bot_port: int
    metrics_port: int
    env: dict[str, str]


def get(url: str, auth: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:  # not listening (yet)
        return 0, ""


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a scraped sample's values over the series matching `labels` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@pytest.fixture(scope="module")
def deployment(services, tmp_path_factory) -> Iterator[Deployment]:
    from sandbox import FakeSlack

    own = Services(
        BROKER_ROOT,
        REDIS_URL,
        name=f"{SESSION}-monitoring",
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
    )
    slack = FakeSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    tmp = tmp_path_factory.mktemp("monitoring")
    metrics_port = free_port()
    env = base_env(
        slack.api_url,
        CELERY_BROKER_URL=own.broker_url,
        REDIS_PREFIX=f"{REDIS_PREFIX}monitoring:",
        LOG_FORMAT="json",
    )
    with own:
        worker = bot = None
        try:
            worker = start_worker(
                "monitoring",
                "tasks",
                {**env, "WORKER_METRICS_PORT": str(metrics_port), "REPORT_TIME_LIMIT": "5"},
                tmp,
                *WORKER_OPTIONS,
                "--concurrency=2",
                celery_cli=True,
            )
            bot = start_http("bot", [sys.executable, "run.py", "bot"], env, tmp)
            slack.bot_url = f"http://127.0.0.1:{bot.port}/slack/events"
            yield Deployment(slack, bot, worker, bot.port, metrics_port, env)
        finally:
            for proc in (bot, worker):
                if proc is not None:
                    proc.stop()
            slack.stop()


def run_to_the_end(d: Deployment, text: str = "ping") -> str:
    """Send a command; wait for its status message to say it finished; return the job id."""
    slack = d.slack
    response = slack.send_command("/run-report", text, channel=CHANNEL, mode="http")
    ack = response.body.get("text", "") if isinstance(response.body, dict) else str(response.body)
    match = JOB_ID.search(ack)
    assert match, f"no job id in the ack: {ack!r}"
    job_id = match.group(1)
    slack.wait_for(
        lambda: [
            m
            for m in slack.messages(CHANNEL)
            if job_id in str(m.blocks) and any(w in str(m.blocks) for w in ("succeeded", "failed"))
        ],
        timeout=20,
        message=f"job {job_id} to finish",
    )
    return job_id


def test_bot_metrics_count_commands_by_outcome_and_time_the_ack(deployment):
    url = f"http://127.0.0.1:{deployment.bot_port}/metrics"
    before = get(url)[1]
    run_to_the_end(deployment)
    deployment.slack.send_command("/run-report", "no-such-report", channel=CHANNEL, mode="http")

    status, after = get(url)
    assert status == 200
    queued = dict(kind="RunReport", outcome="queued")
    assert (
        metric(after, "reportbot_commands_total", **queued)
        == metric(before, "reportbot_commands_total", **queued) + 1
    )
    assert metric(after, "reportbot_commands_total", outcome="refused") >= 1
    assert metric(after, "reportbot_ack_seconds_count") >= metric(before, "reportbot_ack_seconds_count") + 2
    assert metric(after, "reportbot_ack_seconds_bucket", le="3.0") == metric(
        after, "reportbot_ack_seconds_count"
    )
    assert "reportbot_dispatch_failures_total" in after


def test_worker_metrics_show_job_durations_and_outcomes_summed_over_its_processes(deployment):
    url = f"http://127.0.0.1:{deployment.metrics_port}/metrics"
    before = get(url)[1]
    for _ in range(3):  # with two pool processes, more than one of them likely ran a job
        run_to_the_end(deployment)

    ping_ok = dict(report="ping", outcome="succeeded")
    wanted = metric(before, "reportbot_jobs_total", **ping_ok) + 3

    # A job is counted when its last step is done, a moment after its status message says so.
    def counted() -> str:
        scraped = get(url)[1]
        return scraped if metric(scraped, "reportbot_jobs_total", **ping_ok) >= wanted else ""  # "": not yet

    after = wait_until(counted, 10, what="the three jobs to be counted")
    assert metric(after, "reportbot_jobs_total", **ping_ok) == wanted
    assert (
        metric(after, "reportbot_job_seconds_count", **ping_ok)
        == metric(before, "reportbot_job_seconds_count", **ping_ok) + 3
    )
    assert metric(after, "reportbot_job_seconds_sum", **ping_ok) > 0
    assert get(f"http://127.0.0.1:{deployment.metrics_port}/healthz")[0] == 200


def test_worker_metrics_count_slack_errors_and_retries(deployment):
    url = f"http://127.0.0.1:{deployment.metrics_port}/metrics"
    slack = deployment.slack
    before = get(url)[1]

    slack.fail("chat.postMessage", "ratelimited", times=1, status=429, retry_after=1)
    run_to_the_end(deployment)  # retried after Retry-After, then it went through
    slack.set_channel(CHANNEL, member=False)
    try:
        slack.send_command("/run-report", "ping", channel=CHANNEL, mode="http")
        slack.wait_for(
            lambda: [e for e in slack.ephemerals(channel=CHANNEL) if "could not post here" in e.text],
            timeout=20,
            message="the requester to hear that the bot is not in the channel",
        )
    finally:
        slack.set_channel(CHANNEL, member=True)

    def failed_counted() -> str:
        scraped = get(url)[1]
        return scraped if metric(scraped, "reportbot_jobs_total", outcome="failed") else ""  # "": not yet

    after = wait_until(failed_counted, 10, what="the failed job to be counted")
    retries = "reportbot_slack_retries_total"
    assert metric(after, retries, reason="ratelimited") == metric(before, retries, reason="ratelimited") + 1
    errors = dict(method="chat.postMessage", error="not_in_channel")
    assert (
        metric(after, "reportbot_slack_api_errors_total", **errors)
        == metric(before, "reportbot_slack_api_errors_total", **errors) + 1
    )


def test_json_logs_carry_the_job_id_from_command_to_result_and_no_secrets(deployment):
    job_id = run_to_the_end(deployment)

    def lines(proc: Process) -> list[dict]:
        parsed = []
        for line in proc.log().splitlines():
            if line.strip():
                try:
                    parsed.append(json.loads(line))
                except ValueError:
                    pytest.fail(f"{proc.name} wrote a line that is not JSON: {line!r}")
        return parsed

    bot_lines = wait_until(
        lambda: [e for e in lines(deployment.bot) if e.get("job_id") == job_id], 10, what="bot lines"
    )
    worker_lines = wait_until(
        lambda: [
            e for e in lines(deployment.worker) if e.get("job_id") == job_id and "succeeded" in e["message"]
        ],
        10,
        what="the worker's line saying the job succeeded",
    )
    assert any("queued" in e["message"] for e in bot_lines), bot_lines
    assert worker_lines[0]["level"] == "INFO" and worker_lines[0]["time"].endswith("Z")
    for proc in (deployment.bot, deployment.worker):
        for secret in (BOT_TOKEN, SIGNING_SECRET):
            assert secret not in proc.log()


# ------------------------------------------------------------------------------------ Flower


#: The two ways a user may start Flower: both must refuse to run without a password.
FLOWER_COMMANDS = pytest.mark.parametrize(
    "flower_argv", [["run.py", "flower"], ["-m", "celery", "-A", "tasks", "flower"]], ids=["run.py", "celery"]
)


@FLOWER_COMMANDS
def test_flower_refuses_its_api_without_the_basic_auth_credentials(deployment, tmp_path, flower_argv):
    port = free_port()
    env = {**deployment.env, "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": FLOWER_AUTH}
    flower = Process("flower", [sys.executable, *flower_argv], env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: not flower.alive() or get(f"{base}/healthcheck")[0] == 200, 30, what="Flower to answer"
        )
        assert flower.alive(), flower.log()

        assert get(f"{base}/api/workers")[0] == 401
        assert get(f"{base}/api/workers", auth="ops:wrong")[0] == 401
        assert get(f"{base}/")[0] == 401
        status, body = get(f"{base}/api/workers", auth=FLOWER_AUTH)
        assert status == 200 and isinstance(json.loads(body), dict)
        # By Flower's design its Prometheus metrics are open (deploy/README.md says so).
        assert get(f"{base}/metrics")[0] == 200
        assert (
            FLOWER_AUTH.split(":")[1]
            not in subprocess.run(
                ["ps", "-o", "args=", "-p", str(flower.popen.pid)], capture_output=True, text=True
            ).stdout
        )
    finally:
        flower.stop()


@FLOWER_COMMANDS
def test_flower_will_not_start_without_credentials(deployment, flower_argv):
    env = {k: v for k, v in deployment.env.items() if k != "FLOWER_BASIC_AUTH"}
    done = subprocess.run(
        [sys.executable, *flower_argv],
        cwd=ROOT,
        env={**env, "FLOWER_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "FLOWER_BASIC_AUTH is not set" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
