"""A form's private_metadata read back from a submission is text the bot did not check yet: not
JSON, not an object, deeper than the parser's stack, or far longer than Slack's 3000 characters.
Each reads as "no context" (the form's own defaults), never as an exception out of a listener.
"""

from __future__ import annotations

import pytest

from bot.report_form_view import FormContext as ReportContext
from bot.report_form_view import read_metadata
from bot.schedule_form_view import FormContext as ScheduleContext
from tasks.reports import Registry

pytestmark = pytest.mark.unit

FORGED = [
    "[" * 3000,  # within Slack's limit, deeper than json's recursion limit
    '{"schedule":' * 1000,
    '{"channel": "C0HERE", "pad": "' + "x" * 100_000 + '"}',  # far over Slack's limit
    "not json",
    '["C0HERE"]',
    '{"channel": ["C0HERE"], "schedule": {"id": "s-1"}, "report": 7}',
]


@pytest.mark.parametrize("text", FORGED)
def test_forged_metadata_reads_as_no_context(text: str) -> None:
    assert ScheduleContext.load(text) == ScheduleContext()
    assert read_metadata(text, Registry()) == ReportContext()
