"""Job messages as a person reads them, within Slack's limits."""

from __future__ import annotations

from tasks.jobs import Job
from tasks.rendering import (
    MAX_BLOCKS,
    SECTION_LIMIT,
    TEXT_LIMIT,
    digest_message,
    error_result,
    render_result,
    status_message,
)

JOB = Job(id="3f9c2a71", report="sales", args={"region": "emea", "title": "two words"}, channel="C1", user="U1")


def text_of(rendered) -> str:  # type: ignore[no-untyped-def]
    return str(rendered.block_dicts())


def test_the_running_status_says_who_asked_for_what() -> None:
    rendered = status_message(JOB, "running")
    headline = rendered.block_dicts()[0]["text"]["text"]
    assert '<@U1> ran *sales* `region=emea title="two words"`' in headline
    assert "running" in headline and "job `3f9c2a71`" in text_of(rendered)


def test_final_states_carry_the_run_time_and_job_id() -> None:
    assert "succeeded in 1.5 s" in text_of(status_message(JOB, "succeeded", duration=1.5))
    assert "failed after 120 ms" in text_of(status_message(JOB, "failed", duration=0.12))
    assert "job `3f9c2a71`" in text_of(status_message(JOB, "failed", duration=0.12))


def test_arguments_typed_by_a_user_are_escaped_in_the_status() -> None:
    job = Job(id="1", report="echo", args={"text": "<!channel>"}, channel="C", user="U")
    shown = text_of(status_message(job, "running"))
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


def test_long_text_is_split_into_sections_within_the_block_limit() -> None:
    rendered = render_result("line\n" * 100_000)
    blocks = rendered.block_dicts()
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks)
    assert "more characters not shown" in blocks[-1]["text"]["text"]
    assert len(rendered.text) <= 40_000


def test_an_empty_result_says_so_and_errors_are_marked() -> None:
    assert "returned nothing" in render_result("").text
    assert error_result("It broke.").text == ":warning: It broke."


def test_a_digest_is_its_result_then_how_it_went_within_the_block_limit() -> None:
    job = Job(id="5e1d0c2b", report="echo", args={"text": "<!channel>"}, channel="C", user="U", schedule_id="s-<x>")
    long = render_result("line\n" * 100_000)
    rendered = digest_message(job, "succeeded", long, 0.25)
    blocks = rendered.block_dicts()
    assert len(blocks) == MAX_BLOCKS and blocks[0] == long.block_dicts()[0]
    assert "did not fit in one message" in str(blocks[-3])
    line = blocks[-2]["elements"][0]["text"]
    assert "schedule `s-&lt;x&gt;`" in line and "succeeded in 250 ms" in line and "job `5e1d0c2b`" in line
    assert "&lt;!channel&gt;" in line and "<!channel>" not in str(blocks)
    assert blocks[-1]["elements"][0]["text"]["text"] == "Run again"
    assert len(rendered.text) <= TEXT_LIMIT and rendered.text.startswith("echo (schedule s-&lt;x&gt;, succeeded in 250 ms): ")
