"""The sandbox server's event loop, in a thread of its own.

aiohttp serves from an event loop, while the code that drives the fake Slack (tests, the bot's
own threads, the page's executor) is synchronous. So the loop runs in a daemon thread and
synchronous callers hand it coroutines through ``call``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0


class LoopThread:
    """An asyncio loop running forever in a daemon thread named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, setup: Callable[[], Awaitable[None]]) -> None:
        """Start the thread, run ``setup`` on its loop, and return once it has finished."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(setup())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"{self.name} did not start")

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        assert self._loop is not None, f"{self.name}: start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, shutdown: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``shutdown`` on the loop, then stop the loop and join its thread."""
        if self._loop is None or self._thread is None:
            return
        try:
            self.call(shutdown(), timeout=STOP_TIMEOUT_SECONDS)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_SECONDS)
            self._loop = self._thread = None
