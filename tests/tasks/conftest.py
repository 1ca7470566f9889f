"""Fixtures for the tests of `tasks/` that more than one file uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tasks.logs import SLACK_SDK_LOGGERS


@pytest.fixture
def configured() -> Iterator[None]:
    """configure_logging changes the process's loggers: put them back for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in SLACK_SDK_LOGGERS}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)
