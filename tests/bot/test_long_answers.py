"""Answers that list things (help, the reports, history) fit one Slack message however many
things there are, and say how many were left out. `schedule list` pages: test_schedule_commands.
"""

from __future__ import annotations

import re

import pytest

from bot.commands import CommandHandler
from bot.paging import ANSWER_LIMIT, cut_line, fit_lines
from bot.publish import Publisher
from tasks.jobs.records import Job, JobRecords
from tasks.reports import Registry, Report
from tasks.settings import Settings
from tasks.store import MemoryStore

pytestmark = pytest.mark.unit


def region_report(region: str = "all") -> str:
    return region


def handler_with(reports: int, help_text: str = "Revenue by region and week") -> CommandHandler:
    registry = Registry()
    for n in range(reports):
        registry.add(Report.from_function(region_report, name=f"report-{n:03d}", help=help_text))
    settings = Settings(slack_bot_token="xoxb-x")
    return CommandHandler(settings, registry, Publisher(settings), JobRecords(MemoryStore()))


def say(handler: CommandHandler, text: str) -> str:
    return handler.handle({"text": text, "channel_id": "C0HERE", "user_id": "U0ALICE"}).text


def test_help_and_list_with_five_hundred_reports_fit_and_count_the_rest() -> None:
    handler = handler_with(500)
    for text in ("help", "list"):
        answer = say(handler, text)
        shown = len(re.findall(r"/run-report report-\d{3}", answer))
        assert len(answer) <= ANSWER_LIMIT, (text, len(answer))
        assert 10 < shown < 500
        assert f"… and {500 - shown} more reports" in answer, answer[-300:]
        assert "`/run-report help &lt;report&gt;`" in answer


def test_a_few_reports_are_listed_whole() -> None:
    answer = say(handler_with(3), "list")
    assert len(re.findall(r"report-\d{3}", answer)) == 3 and "more" not in answer


def test_history_of_jobs_with_huge_arguments_fits_and_counts_the_rest() -> None:
    handler = handler_with(1)
    for n in range(10):
        job = Job(
            id=f"{n:08x}",
            report="report-000",
            args={"region": "<!here>" + "x" * 3500},
            channel="C0HERE",
            user="U0ALICE",
        )
        handler.records.created(job)
    answer = say(handler, "history")
    assert len(answer) <= ANSWER_LIMIT
    assert "<!here>" not in answer
    assert re.search(r"… and \d+ older jobs", answer), answer[-300:]


def test_a_cut_line_closes_its_code_span_and_never_exceeds_the_limit() -> None:
    line = "• `" + "a" * 500 + "`"
    cut = cut_line(line, 100)
    assert len(cut) <= 100 and cut.count("`") % 2 == 0 and "…" in cut
    text = fit_lines("head", [line] * 50, lambda n: f"{n} more", limit=1000)
    assert len(text) <= 1000 and text.endswith("more")
