"""The bot's immediate answers (`bot.replies`): what a person reads in the ephemeral reply."""

from __future__ import annotations

import pytest

from bot.replies import SORRY, help_text, list_text, not_queued_text, queued_text, report_help, store_down
from tasks.jobs.records import Job
from tasks.reports import Registry, Report

pytestmark = pytest.mark.unit

COMMAND = "/run-report"


def sales(region: str = "all", days: int = 7) -> str:
    """Sales by region over the last days."""
    return region


def ping() -> str:
    return "pong"


def registry(*reports: Report) -> Registry:
    found = Registry()
    for report in reports:
        found.add(report)
    return found


SALES = Report.from_function(sales, name="sales")
PING = Report.from_function(ping, name="ping", help="Checks the bot is alive.")


def test_help_shows_the_usage_then_every_report_with_its_arguments_and_help() -> None:
    text = help_text(registry(SALES, PING), COMMAND, "`/run-report <report> [key=value …]`")
    lines = text.splitlines()
    assert lines[0] == "*How to use `/run-report`*"
    assert lines[1] == "`/run-report <report> [key=value …]`"
    assert "*Reports*" in lines
    sales_line = next(line for line in lines if "sales" in line)
    assert sales_line == (
        "• `/run-report sales [region=&lt;text&gt;] [days=&lt;whole number&gt;]`: "
        "Sales by region over the last days."
    )
    assert "• `/run-report ping`: Checks the bot is alive." in lines


def test_help_without_reports_says_none_are_installed() -> None:
    assert help_text(registry(), COMMAND, "usage").endswith("_No reports are installed._")


def test_a_long_report_list_ends_saying_how_many_more_and_how_to_see_one() -> None:
    many = registry(*(Report.from_function(sales, name=f"sales-{n:03}", help="x" * 150) for n in range(60)))
    text = help_text(many, COMMAND, "usage")
    assert len(text) <= 4000
    last = text.splitlines()[-1]
    assert last.startswith("… and ") and last.endswith(
        "more reports. `/run-report help &lt;report&gt;` shows one by its name."
    )
    assert list_text(many, COMMAND).splitlines()[-1] == last


def test_one_reports_help_lists_each_argument_or_says_it_takes_none() -> None:
    detailed = report_help(SALES, COMMAND).splitlines()
    assert detailed[0] == "*sales*: Sales by region over the last days."
    assert detailed[1:] == [
        "Usage: `/run-report sales [region=&lt;text&gt;] [days=&lt;whole number&gt;]`",
        "Arguments:",
        "• region=&lt;text&gt; (default: all)",
        "• days=&lt;whole number&gt; (default: 7)",
    ]
    bare = report_help(Report.from_function(ping, name="ping"), COMMAND).splitlines()
    assert bare == ["*ping*: no description", "Usage: `/run-report ping`", "It takes no arguments."]


def test_the_list_counts_the_reports_or_says_there_are_none() -> None:
    text = list_text(registry(SALES, PING), COMMAND)
    assert text.splitlines()[0] == "*Reports* (2):"
    assert list_text(registry(), COMMAND) == "No reports are installed."


def test_report_names_and_help_are_shown_escaped_never_as_mentions() -> None:
    hostile = Report.from_function(ping, name="ping", help="<!channel> & <@U0BOSS>")
    text = report_help(hostile, COMMAND)
    assert "<!channel>" not in text and "<@U0BOSS>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in text


def test_the_ack_names_the_report_its_arguments_and_the_job_id() -> None:
    job = Job(id="3f9c2a71", report="sales", args={"region": "emea"}, channel="C0GEN", user="U0ALICE")
    assert queued_text(job) == (
        ":inbox_tray: Queued *sales* `region=emea` as job `3f9c2a71`. "
        "The result will appear in this channel, in a thread under its status message."
    )


def test_when_nothing_was_queued_the_answer_says_so_and_what_to_do() -> None:
    text = not_queued_text("<!here>")
    assert text.startswith(":warning: Nothing was queued")
    assert "`&lt;!here&gt;` did not start" in text
    assert "try again in a minute" in text and "RabbitMQ" in text


def test_redis_down_and_our_own_errors_each_have_one_plain_answer() -> None:
    assert "Redis is not answering" in store_down() and "nothing was changed" in store_down()
    assert SORRY.startswith(":warning: Sorry, something went wrong on my side and nothing was queued.")
