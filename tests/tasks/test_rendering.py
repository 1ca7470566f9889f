"""Job messages as a person reads them, within Slack's limits."""

from __future__ import annotations

import json
import re
import time
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.jobs.records import Job
from tasks.rendering.limits import MAX_BLOCKS, SECTION_LIMIT, TEXT_LIMIT
from tasks.rendering.messages import (
    Rendered,
    digest_message,
    error_result,
    render_result,
    status_message,
)
from tasks.reports import Chart, File, Registry, Table, report

JOB = Job(
    id="3f9c2a71", report="sales", args={"region": "emea", "title": "two words"}, channel="C1", user="U1"
)


def text_of(rendered) -> str:
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
    assert "the full text (500,000 characters) is attached" in blocks[-1]["text"]["text"]
    assert len(rendered.text) <= 40_000


def test_an_empty_result_says_so_and_errors_are_marked() -> None:
    assert "returned nothing" in render_result("").text
    assert error_result("It broke.").text == ":warning: It broke."


def test_a_digest_is_its_result_then_how_it_went_within_the_block_limit() -> None:
    job = Job(
        id="5e1d0c2b", report="echo", args={"text": "<!channel>"}, channel="C", user="U", schedule_id="s-<x>"
    )
    long = render_result("line\n" * 100_000)
    rendered = digest_message(job, "succeeded", long, 0.25)
    blocks = rendered.block_dicts()
    assert len(blocks) == MAX_BLOCKS and blocks[0] == long.block_dicts()[0]
    assert "did not fit in one message" in str(blocks[-3])
    line = blocks[-2]["elements"][0]["text"]
    assert "schedule `s-&lt;x&gt;`" in line and "succeeded in 250 ms" in line and "job `5e1d0c2b`" in line
    assert "&lt;!channel&gt;" in line and "<!channel>" not in str(blocks)
    assert [o["text"]["text"] for o in blocks[-1]["elements"][0]["options"]] == [
        "Run now",
        "Pause",
        "Edit",
        "Remove…",
    ]
    assert len(rendered.text) <= TEXT_LIMIT and rendered.text.startswith(
        "echo (schedule s-&lt;x&gt;, succeeded in 250 ms): "
    )


# -- broadcasts in report output ------------------------------------------------------------

# Characters a viewer cannot see, which a later step (or a client) might drop: every format
# character (category Cf) and the other default-ignorable code points (Unicode's
# DerivedCoreProperties). Built here independently of tasks.slack.mrkdwn, so the test checks it.
INVISIBLE = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf") + (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\ufe00\ufe0f\uffa0"
)

pytestmark = pytest.mark.unit
_INVISIBLE = re.compile(f"[{re.escape(INVISIBLE)}]")
_BROADCAST = re.compile(r"<!(?!date\^)[^<>]*>")
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!group>",
    "<!here|here>",
    "<!subteam^S0123ABC>",
    "<!subteam^S0123ABC|@ops>",
    "a\u200b<\u200b!channel>",
    "<\u2060!here>",
    "<\ufeff!everyone>",
    "<\u200d!subteam^S1|@x>",
]


def live_broadcasts(message: object) -> list[str]:
    """Every broadcast mention Slack would act on anywhere in a message (its text, its blocks,
    its files' names and titles), even once invisible characters are dropped."""
    if isinstance(message, Rendered):
        files = [[f.name, f.title] for f in message.files]
        message = [message.text, message.block_dicts(), files]
    flat = _INVISIBLE.sub("", json.dumps(message, ensure_ascii=False))
    return _BROADCAST.findall(flat)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_report_text_cannot_broadcast_in_the_blocks_or_the_fallback(hostile: str) -> None:
    rendered = render_result(f"you typed: {hostile}", name="echo")
    assert live_broadcasts(rendered) == []
    assert "you typed:" in rendered.text and "&lt;!" in text_of(rendered)  # shown, as text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_tables_charts_and_files_cannot_broadcast_either(hostile: str) -> None:
    table = Table(["who", "n"], [(hostile, 1), ("b", 2)], title=f"Title {hostile}")
    wide = Table([f"c{i}" for i in range(25)], [tuple([hostile] * 25)], title=hostile)
    result = [
        hostile,
        table,
        wide,
        Chart(table, type="bar", x="who", y="n", title=hostile),
        File(f"{hostile}.txt", b"data", title=hostile),
    ]
    rendered = render_result(result, name="mixed")
    assert live_broadcasts(rendered) == []
    [csv] = [f for f in rendered.files if f.name.endswith(".csv") and f.name.startswith("title")]
    assert hostile.encode() in csv.content  # the attachment keeps the data exactly


def test_user_mentions_links_and_dates_a_report_writes_stay_live() -> None:
    text = "hi <@U0123ABC> see <#C0123|general> and <https://example.com|the docs> <!date^1700000000^{date}|today>"
    rendered = render_result(text)
    assert text in rendered.text and text in text_of(rendered)


def test_entities_and_look_alikes_are_shown_as_text_never_turned_into_a_mention() -> None:
    for shown in ("&lt;!channel&gt;", "\uff1c!channel\uff1e", "<\u0021channel\u200b", "&#60;!here&#62;"):
        assert live_broadcasts(render_result(shown)) == []


def test_a_report_declared_with_notify_keeps_its_broadcasts_and_others_do_not() -> None:
    reports = Registry()

    @report("alert", help="Pings the channel", notify=True, registry=reports)
    def alert(text: str = "<!here> the build is red") -> str:
        return text

    @report("quiet", help="Says the same", registry=reports)
    def quiet(text: str = "<!here> the build is red") -> str:
        return text

    loud, calm = (reports.require(name) for name in ("alert", "quiet"))
    assert set(live_broadcasts(render_result(loud.run(loud.convert_args({})), name="alert"))) == {"<!here>"}
    assert live_broadcasts(render_result(calm.run(calm.convert_args({})), name="quiet")) == []


def test_errors_and_digests_cannot_broadcast() -> None:
    assert live_broadcasts(error_result("no region <!channel>")) == []
    job = Job(id="5e1d0c2b", report="echo", args={}, channel="C", user="U", schedule_id="s1")
    digest = digest_message(job, "succeeded", render_result("<\u200b!everyone> hi"), 0.1)
    assert live_broadcasts(digest) == []


@given(st.lists(st.sampled_from([*HOSTILE, "<", ">", "!", "&", "x", "\n", "\u200b", "channel"]), max_size=40))
def test_no_arrangement_of_pieces_reassembles_a_broadcast(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert live_broadcasts(render_result(text)) == []
    assert live_broadcasts(render_result([text, Table(["t"], [(text,)], title=text)])) == []


# -- big results ----------------------------------------------------------------------------


def rendering_time(text: str) -> float:
    started = time.process_time()
    render_result(text, name="big")
    return time.process_time() - started


@pytest.mark.parametrize("line", [80, 0], ids=["lines", "one-line"])
def test_rendering_time_does_not_grow_with_the_size_of_the_text(line: int) -> None:
    def text(size: int) -> str:
        return ("x" * (line - 1) + "\n") * (size // line) if line else "x" * size

    small, large = text(5_000_000), text(50_000_000)
    assert rendering_time(small) < 1.0
    assert rendering_time(large) < 1.5


def test_a_cut_text_shows_what_fits_and_attaches_the_whole_of_it() -> None:
    text = "".join(f"line {n}\n" for n in range(300_000))
    rendered = render_result(text, name="big")
    blocks = rendered.block_dicts()
    assert len(blocks) <= MAX_BLOCKS and all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks)
    assert blocks[0]["text"]["text"].startswith("line 0\nline 1\n")
    assert "full text" in blocks[-1]["text"]["text"] and "`big.txt`" in blocks[-1]["text"]["text"]
    assert len(rendered.text) <= TEXT_LIMIT and "big.txt" in rendered.text
    [attached] = rendered.files
    assert attached.name == "big.txt" and attached.content == text.encode()


def test_a_text_that_fits_attaches_nothing() -> None:
    rendered = render_result("line\n" * 1000, name="small")
    assert rendered.files == [] and "attached" not in rendered.text


def test_cut_texts_in_a_list_each_attach_their_whole_text_under_their_own_name() -> None:
    first, second = "a" * 200_000, "b" * 200_000
    rendered = render_result([first, second, "short"], name="two")
    assert len(rendered.block_dicts()) <= MAX_BLOCKS
    names = [f.name for f in rendered.files]
    assert len(names) == len(set(names))
    assert {first.encode(), second.encode()} <= {f.content for f in rendered.files}


def test_parts_past_a_full_message_are_not_rendered_but_their_files_and_texts_are_attached() -> None:
    parts = ["x" * 200_000, *[f"part {n}" for n in range(10_000)], Table(["n"], [(1,)], title="late")]
    started = time.process_time()
    rendered = render_result(parts, name="many")
    assert time.process_time() - started < 1.0
    blocks = rendered.block_dicts()
    assert len(blocks) <= MAX_BLOCKS
    assert "attached as `many.txt`" in str(blocks[-2]) and "in the files attached below" in str(blocks[-1])
    names = {f.name for f in rendered.files}
    assert {"many.txt", "late.csv", "many-2.txt", "many-10001.txt"} <= names


def test_a_failed_digest_is_one_short_message_with_retry_and_the_schedules_menu() -> None:
    from slack_sdk.models.blocks import Block

    from tasks.rendering.messages import (
        DIGEST_RETRY_ACTION,
        FAILURE_REASON_LIMIT,
        digest_message,
        error_result,
    )

    job = Job(
        id="5e1d0c2b", report="sales", args={"region": "emea"}, channel="C", user="U", schedule_id="s-1a2b3c"
    )
    failed = digest_message(job, "failed", error_result("x" * 5000), 1.5)

    blocks = failed.block_dicts()
    assert len(blocks) == 3 and failed.files == []
    assert len(blocks[0]["text"]["text"]) < FAILURE_REASON_LIMIT + 120
    assert "*sales* `region=emea` (schedule `s-1a2b3c`) failed after 1.5 s." in blocks[0]["text"]["text"]
    retry, menu = blocks[-1]["elements"]
    assert (retry["action_id"], retry["value"], retry["text"]["text"]) == (
        DIGEST_RETRY_ACTION,
        "s-1a2b3c",
        "Retry",
    )
    assert [o["value"] for o in menu["options"]] == [
        "run:s-1a2b3c",
        "pause:s-1a2b3c",
        "edit:s-1a2b3c",
        "remove:s-1a2b3c",
    ]
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()  # within Slack's limits, as slack_sdk checks them
    assert failed.text == "sales (schedule s-1a2b3c) failed after 1.5 s (job 5e1d0c2b)"


def test_a_skipped_runs_status_says_so_with_its_reason_and_cannot_broadcast() -> None:
    from tasks.rendering.messages import skip_result, status_message

    job = Job(id="5e1d0c2b", report="orders", args={}, channel="C", user="U0ALICE")
    note = skip_result("no new orders <!channel>").text
    status = status_message(job, "skipped", duration=0.02, note=note)

    shown = str(status.block_dicts())
    assert ":fast_forward:" in shown and "skipped after 20 ms" in shown and "_Skipped: no new orders" in shown
    assert "<!channel>" not in shown and "Run again" in shown
