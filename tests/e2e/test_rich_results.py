"""Tables, charts, files and SQL reports as a person in the channel sees them.

Real bot and worker processes, real RabbitMQ and Redis; Slack is the fake, which keeps every
uploaded file and every request of the files_upload_v2 flow.
"""

from __future__ import annotations

import re
import struct

JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
CHANNEL = "C0RICH"


def run_and_wait(slack, text: str, files: int = 0):
    """Send a command over HTTP; return (job id, final status message, thread replies)."""
    response = slack.send_command("/run-report", text, channel=CHANNEL, mode="http")
    assert response.ok, response
    ack = response.body.get("text", "") if isinstance(response.body, dict) else str(response.body)
    match = JOB_ID.search(ack)
    assert match, f"no job id in the ack: {ack!r}"
    job_id = match.group(1)

    def finished():
        found = [m for m in slack.messages(CHANNEL) if job_id in str(m.blocks)]
        if found and any(w in str(found[0].blocks) for w in ("succeeded", "failed")):
            return found[0]
        return None

    final = slack.wait_for(finished, timeout=30, message=f"job {job_id} to finish")
    replies = slack.wait_for(lambda: slack.thread(CHANNEL, final.ts), timeout=10)
    if files:
        replies = slack.wait_for(
            lambda: (r := slack.thread(CHANNEL, final.ts)) and sum(len(m.files) for m in r) >= files and r,
            timeout=15,
            message=f"{files} files in the thread",
        )
    return job_id, final, replies


def thread_files(replies):
    return {f.name: f for m in replies for f in m.files}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_table_shows_in_the_thread_and_its_exact_csv_is_uploaded_there(slack, worker, http_bot):
    _, final, replies = run_and_wait(slack, "exact", files=1)
    result = replies[0]
    [table] = [b for b in result.blocks if b["type"] == "table"]
    assert [[c["text"] for c in row] for row in table["rows"]] == [
        ["name", "amount", "day", "note"],
        ["Acme, Inc.", "1,234.50", "2024-05-01", 'said "hi"'],
        ["<b>Bold</b> & co", "7.00", "—", " "],
    ]
    assert "Here are the *customers*:" in str(result.blocks) and "*Customers*" in str(result.blocks)
    assert "<b>" not in result.text and "&lt;b&gt;Bold" in result.text  # the fallback is escaped

    csv = thread_files(replies)["customers.csv"]
    assert (
        csv.data
        == b'name,amount,day,note\r\n"Acme, Inc.",1234.5,2024-05-01,"said ""hi"""\r\n<b>Bold</b> & co,7,,\r\n'
    )
    assert csv.channel == CHANNEL and csv.thread_ts == final.ts
    assert "succeeded" in str(final.blocks)


def test_files_go_through_the_three_step_upload_into_the_jobs_thread(slack, worker, http_bot):
    _, final, replies = run_and_wait(slack, "attach", files=1)
    [get_url] = slack.requests("files.getUploadURLExternal")
    [upload] = slack.requests("upload")
    [complete] = slack.requests("files.completeUploadExternal")
    assert get_url.params["filename"] == "notes.txt" and int(get_url.params["length"]) == 18
    assert upload.status == 200 and upload.params["length"] == 18
    assert complete.params["channel_id"] == CHANNEL and complete.params["thread_ts"] == final.ts
    assert get_url.at <= upload.at <= complete.at
    assert thread_files(replies)["notes.txt"].data == b"line one\nline two\n"
    assert "The notes are attached." in replies[0].text


def test_a_chart_is_a_valid_png_in_the_thread(slack, worker, http_bot):
    _, _, replies = run_and_wait(slack, "plot kind=bar", files=2)
    files = thread_files(replies)
    assert png_size(files["visits-by-month.png"].data) == (800, 450)
    assert files["plot.csv"].data == b"month,visits\r\njan,120\r\nfeb,340\r\nmar,290\r\n"
    assert "bar chart attached" in str(replies[0].blocks)


def test_a_long_table_is_cut_at_slacks_limits_and_says_how_many_rows_more(slack, worker, http_bot):
    _, _, replies = run_and_wait(slack, "rows n=250", files=1)
    [table] = [b for b in replies[0].blocks if b["type"] == "table"]
    assert len(table["rows"]) == 21  # header + the first 20; Slack allows 100
    assert "Showing the first 20 of 250 rows. 230 more rows are in the attached CSV." in str(
        replies[0].blocks
    )
    assert thread_files(replies)["rows.csv"].data.count(b"\r\n") == 251


def test_a_table_wider_than_a_table_block_is_aligned_monospace(slack, worker, http_bot):
    _, _, replies = run_and_wait(slack, "wide cols=25", files=1)
    assert not [b for b in replies[0].blocks if b["type"] == "table"]
    assert "```" in replies[0].blocks[0]["text"]["text"]


def test_a_failed_upload_still_leaves_the_text_result_and_says_so(slack, worker, http_bot):
    slack.fail("upload", error=None, status=500, times=10)
    _, final, replies = run_and_wait(slack, "exact")
    note = slack.wait_for(
        lambda: [m for m in slack.thread(CHANNEL, final.ts) if "could not be uploaded" in m.text], timeout=20
    )
    assert "customers.csv" in note[0].text
    assert any(b["type"] == "table" for b in replies[0].blocks)
    assert len(slack.requests("upload")) == 3  # the whole flow was retried before giving up
    assert not slack.files() or not any(f.completed for f in slack.files())


def test_the_shipped_sql_report_shows_a_table_and_a_chart(slack, worker, http_bot):
    _, final, replies = run_and_wait(slack, "sales-by-region since=today-90d", files=2)
    [table] = [b for b in replies[0].blocks if b["type"] == "table"]
    assert [c["text"] for c in table["rows"][0]] == ["region", "orders", "revenue"]
    assert {row[0]["text"] for row in table["rows"][1:]} == {"emea", "amer", "apac", "latam"}
    files = thread_files(replies)
    assert files["sales-by-region.csv"].data.startswith(b"region,orders,revenue\r\n")
    assert png_size(files["revenue-by-region.png"].data) == (800, 450)


def test_an_injection_attempt_through_an_argument_changes_nothing(slack, worker, http_bot):
    _, final, replies = run_and_wait(slack, 'orders region="x\'; drop table orders; --" since=today-90d')
    assert "The report returned no rows." in str(replies[0].blocks)
    assert "succeeded" in str(final.blocks)
    _, _, replies = run_and_wait(slack, "orders region=apac since=today-90d", files=1)
    assert "apac" in replies[0].text  # the table is still there, with its orders
    assert thread_files(replies)["orders.csv"].data.count(b"\r\n") > 2


def test_a_bad_sql_report_argument_is_answered_at_once_and_nothing_runs(slack, worker, http_bot):
    response = slack.send_command(
        "/run-report", "sales-by-region since=last-week", channel=CHANNEL, mode="http"
    )
    text = response.body.get("text", "") if isinstance(response.body, dict) else str(response.body)
    assert "`since` must be a date" in text
    assert not slack.messages(CHANNEL)


def test_a_text_too_big_for_a_message_shows_what_fits_and_its_whole_text_is_attached(slack, worker, http_bot):
    _, final, replies = run_and_wait(slack, "big chars=2000000 width=80", files=1)
    assert "succeeded" in str(final.blocks)
    [result] = [m for m in replies if m.blocks]
    assert len(result.blocks) <= 50
    assert result.blocks[0]["text"]["text"].startswith("x" * 79 + "\n")
    assert "full text" in result.blocks[-1]["text"]["text"] and "big.txt" in result.blocks[-1]["text"]["text"]
    assert len(result.text) <= 40_000 and "big.txt" in result.text
    attached = thread_files(replies)["big.txt"]
    assert attached.data == ("x" * 79 + "\n").encode() * 25_000
    assert attached.channel == CHANNEL and attached.thread_ts == final.ts
