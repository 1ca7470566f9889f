"""The naive worker: the job as a first attempt would write it, with Celery's default settings.

Three Web API calls per job (status message, result in its thread, status updated), a default
`WebClient`, no job records, no per-step dedup, no retries, no metrics: the baseline our worker
must not be slower than while doing all of those.

    celery -A bench.naive_tasks worker
"""

from __future__ import annotations

import time
from functools import cache

from celery import Celery
from slack_sdk import WebClient

from tasks.settings import load_settings

NAIVE_RUN = "naive.run_report"
settings = load_settings()
app = Celery("naive", broker=settings.celery_broker_url)


@cache
def client() -> WebClient:
    """One client per pool process, made after the fork."""
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)


@app.task(name=NAIVE_RUN)
def run_report(channel: str, user: str, text: str) -> None:
    started = time.monotonic()
    status = client().chat_postMessage(channel=channel, text=f"<@{user}> asked for {text}: running")
    result = "pong" if text.strip() == "ping" else f"unknown report {text}"
    client().chat_postMessage(channel=channel, thread_ts=status["ts"], text=result)
    took = time.monotonic() - started
    client().chat_update(
        channel=channel, ts=status["ts"], text=f"<@{user}> asked for {text}: succeeded in {took:.3f} s"
    )
