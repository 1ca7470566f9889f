"""Beat's /healthz and /metrics, served by the scheduler itself against real Redis: standing by
before its first tick, leading after it, unhealthy once its loop stops ticking, and the port
closed with the scheduler. A real `python run.py beat` firing a schedule: tests/e2e/test_schedules.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from prometheus_client import generate_latest

from tasks.metrics import BEAT_REGISTRY
from tasks.schedules.beat import STALE_AFTER, StoreScheduler
from tasks.settings import Settings
from tasks.worker.runtime import Runtime
from tests.support import BOT_TOKEN, REDIS_PREFIX, REDIS_URL, free_port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_beat_answers_healthz_with_its_role_and_fails_it_once_its_loop_stops(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        redis_url=REDIS_URL,
        redis_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:6]}:",
        reports_file=str(tmp_path / "none.toml"),  # no static schedules
        beat_metrics_port=port,
    )
    app: Any = Celery("beat-monitoring", set_as_current=False)
    app.runtime = Runtime(settings)
    scheduler = StoreScheduler(app)
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = get(f"{base}/healthz")
        assert status == 200 and json.loads(body)["role"] == "standing by", body
        assert json.loads(body)["last_tick_age"] is None

        scheduler.tick()
        status, body = get(f"{base}/healthz")
        health = json.loads(body)
        assert status == 200 and health["ok"] is True and health["role"] == "leading", body
        assert 0 <= health["last_tick_age"] < 5
        status, metrics = get(f"{base}/metrics")
        assert status == 200 and "reportbot_beat_leading 1.0" in metrics
        assert "reportbot_beat_runs_fired_total" in metrics and "reportbot_jobs_total" not in metrics

        scheduler._last_tick -= STALE_AFTER  # as if the loop had hung for that long
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["ok"] is False, body
    finally:
        scheduler.close()
    # Closing released the lock and the port.
    assert "reportbot_beat_leading 0.0" in generate_latest(BEAT_REGISTRY).decode()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base}/healthz", timeout=2)
