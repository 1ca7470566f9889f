"""Socket Mode: the same Bolt app over Slack's WebSocket, with a watchdog.

A Socket Mode connection can go quiet while the process looks healthy (a reconnect that never
completes); the watchdog reconnects after a short grace, and /healthz reports the connection so
an orchestrator can restart a process that stays disconnected.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from tasks.settings import Settings

log = logging.getLogger(__name__)

WATCH_INTERVAL = 5.0
RECONNECT_AFTER = 20.0
UNHEALTHY_AFTER = 120.0


class SocketModeRunner:
    """Holds the Socket Mode connection up and says whether it is."""

    def __init__(self, app: App, settings: Settings, concurrency: int = 16) -> None:
        settings.require("slack_app_token")
        self.handler = SocketModeHandler(app, settings.slack_app_token, concurrency=concurrency)
        self._down_since: float | None = None

    def start(self) -> SocketModeRunner:
        self.handler.connect()
        threading.Thread(target=self._watch, name="socket-watchdog", daemon=True).start()
        return self

    def connected(self) -> bool:
        return bool(self.handler.client.is_connected())

    def health(self) -> tuple[bool, dict[str, Any]]:
        down = self._down_since
        ok = down is None or time.monotonic() - down < UNHEALTHY_AFTER
        return ok, {"mode": "socket", "connected": self.connected()}

    def _watch(self) -> None:
        while True:  # a daemon thread: it lasts as long as the process
            time.sleep(WATCH_INTERVAL)
            if self.connected():
                self._down_since = None
                continue
            now = time.monotonic()
            self._down_since = self._down_since or now
            if now - self._down_since >= RECONNECT_AFTER:
                log.warning("Socket Mode disconnected for %.0f s; reconnecting", now - self._down_since)
                try:
                    self.handler.client.connect_to_new_endpoint(force=True)
                except Exception as exc:
                    log.warning("Socket Mode reconnect failed: %s", exc)
