"""The sandbox page in a real browser, as a new user meets it after `python run.py`.

Headless Chromium (Debian's `chromium`; `.ci/run` installs it) driven by Playwright. The product
runs as a user starts it, with nothing configured: the sandbox, the bot, one worker and the
scheduler in one process, over the in-memory transport and store.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.sandbox_process import SandboxProcess, run_sandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # generous: a job through the in-memory queue takes well under a second


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with run_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        yield proc


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"the page's JavaScript failed: {errors}"


def type_command(page: Page, text: str) -> None:
    box = page.get_by_label("Message box")
    box.fill(text)
    box.press("Enter")


def status_message(page: Page, report: str) -> Any:
    """The newest top-level message saying who ran ``report``."""
    return page.locator("#messages > .msg:not(.ephemeral)").filter(has_text=f"ran {report}").last


def test_typing_ping_shows_the_ack_then_the_finished_status_and_pong_in_its_thread(
    sandbox: SandboxProcess, page: Page, tmp_path: Path
) -> None:
    page.goto(sandbox.url)
    type_command(page, "/run-report ping")

    ack = page.locator(".msg.ephemeral").filter(has_text="Queued ping").last
    expect(ack).to_be_visible(timeout=WAIT_MS)
    expect(ack).to_contain_text("Only visible to you")

    status = status_message(page, "ping")
    expect(status).to_contain_text("succeeded", timeout=WAIT_MS)
    thread = status.locator(".thread")
    expect(thread).to_contain_text("pong", timeout=WAIT_MS)
    # mrkdwn is rendered, not shown raw: the user's mention and the job id as code.
    expect(status.locator(".mention").first).to_have_text("@you")
    expect(status.locator("code").first).to_have_text(ack.locator("code").first.inner_text())

    # The status message's button goes to the bot as a signed block_actions click.
    status.get_by_role("button", name="Run again").click()
    expect(page.locator("#messages > .msg:not(.ephemeral)").filter(has_text="ran ping")).to_have_count(
        2, timeout=WAIT_MS
    )
    expect(status_message(page, "ping").locator(".thread")).to_contain_text("pong", timeout=WAIT_MS)
    page.screenshot(path=str(tmp_path / "ping.png"))


def test_a_sql_report_shows_its_table_and_its_chart_inline(
    sandbox: SandboxProcess, page: Page, tmp_path: Path
) -> None:
    page.goto(sandbox.url)
    type_command(page, "/run-report sales-by-region")

    status = status_message(page, "sales-by-region")
    expect(status).to_contain_text("succeeded", timeout=WAIT_MS)
    table = status.locator(".thread table.bk-table")
    expect(table).to_be_visible(timeout=WAIT_MS)
    expect(table.locator("th")).to_have_text(["region", "orders", "revenue"])
    for region in ("amer", "apac", "emea", "latam"):
        expect(table.locator("td", has_text=region)).to_be_visible()

    chart = status.locator(".thread .file-image img")
    expect(chart).to_be_visible(timeout=WAIT_MS)
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle(), timeout=WAIT_MS
    )
    expect(status.locator(".thread .file-card")).to_contain_text("sales-by-region.csv")

    shot = tmp_path / "table-and-chart.png"
    page.screenshot(path=str(shot))
    if Path("/tmp").is_dir():  # kept where a developer can look at it after the run
        shutil.copy(shot, "/tmp/reportbot-sandbox-table-and-chart.png")


def test_a_thread_link_of_history_opens_the_page_at_that_message_with_its_thread(
    sandbox: SandboxProcess, page: Page
) -> None:
    page.goto(sandbox.url)
    pings = page.locator("#messages > .msg:not(.ephemeral)").filter(has_text="ran ping")
    page.wait_for_function("() => view.data !== null", timeout=WAIT_MS)  # the channel as it is now
    before = pings.count()
    type_command(page, "/run-report ping")
    expect(pings).to_have_count(before + 1, timeout=WAIT_MS)
    expect(pings.last.locator(".thread")).to_contain_text("pong", timeout=WAIT_MS)
    type_command(page, "/run-report history")
    answer = page.locator(".msg.ephemeral").filter(has_text="Recent jobs").last
    expect(answer).to_be_visible(timeout=WAIT_MS)
    job_id = answer.locator("code").first.inner_text()  # the newest job, whose link comes first
    expect(pings.last).to_contain_text(job_id)
    href = answer.get_by_role("link", name="thread").first.get_attribute("href")
    assert href and href.startswith(f"{sandbox.url}archives/C0SANDBOX/p"), href

    page.goto(href)
    linked = page.locator(".msg.linked")
    expect(linked).to_have_count(1, timeout=WAIT_MS)
    expect(linked).to_contain_text(job_id)
    expect(linked.locator(".thread")).to_contain_text("pong")
    expect(linked).to_be_in_viewport()


def test_text_from_slack_is_shown_as_text_never_as_html(slack: Any, page: Page) -> None:
    """Messages come from the bot and, through it, from users: the page must not run them."""
    from slack_sdk import WebClient

    from tests.support import BOT_TOKEN

    client = WebClient(BOT_TOKEN, base_url=slack.api_url)
    client.chat_postMessage(
        channel="C0SANDBOX",
        text="fallback",
        blocks=[
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*bold* _italic_ `&lt;b&gt;code&lt;/b&gt;` snake_case_name "
                    '&lt;img src=x onerror="window.hacked=1"&gt; <https://example.com|a link> '
                    "<javascript:window.hacked=2|bad link> <!here>",
                },
            },
            {"type": "header", "text": {"type": "plain_text", "text": "<script>window.hacked=3</script>"}},
        ],
    )
    page.goto(slack.base_url)
    section = page.locator(".section").first
    expect(section).to_be_visible(timeout=WAIT_MS)
    expect(section.locator("b")).to_have_text("bold")
    expect(section.locator("i")).to_have_text("italic")
    expect(section.locator("code")).to_have_text("<b>code</b>")
    expect(section).to_contain_text('snake_case_name <img src=x onerror="window.hacked=1">')
    expect(section.locator("a")).to_have_count(1)
    expect(section.locator("a")).to_have_attribute("href", "https://example.com")
    expect(section.locator(".mention")).to_have_text("@here")
    expect(page.locator(".block-header")).to_have_text("<script>window.hacked=3</script>")
    assert page.locator("#messages img").count() == 0
    assert page.evaluate("window.hacked") is None


def post(slack: Any, **message: Any) -> None:
    from slack_sdk import WebClient

    from tests.support import BOT_TOKEN

    WebClient(BOT_TOKEN, base_url=slack.api_url).chat_postMessage(channel="C0SANDBOX", **message)


def test_a_confirm_dialog_is_slacks_dialog_with_its_text_rendered(slack: Any, page: Page) -> None:
    confirm = {
        "title": {"type": "plain_text", "text": "Cancel this job?"},
        "text": {"type": "mrkdwn", "text": "Job `3f9c2a71` stops *now*."},
        "confirm": {"type": "plain_text", "text": "Cancel it"},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Cancel"},
        "action_id": "x",
        "confirm": confirm,
    }
    post(slack, text="fallback", blocks=[{"type": "actions", "elements": [button]}])
    page.on("dialog", lambda dialog: pytest.fail(f"the browser's own dialog was shown: {dialog.message}"))
    page.goto(slack.base_url)
    page.get_by_role("button", name="Cancel", exact=True).click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog.locator(".modal-title")).to_have_text("Cancel this job?")
    expect(dialog.locator("code")).to_have_text("3f9c2a71")
    expect(dialog.locator("b")).to_have_text("now")
    expect(dialog).not_to_contain_text("`")
    expect(dialog.get_by_role("button", name="Cancel it")).to_have_class(re.compile("danger"))
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)


def test_a_digests_menu_opens_on_its_options_and_sends_the_one_chosen(slack: Any, page: Page) -> None:
    from tasks.jobs.records import Job
    from tasks.rendering.messages import digest_message, text_result

    job = Job(
        id="5e1d0c2b", report="sales", args={}, channel="C0SANDBOX", user="U0ALICE", schedule_id="s-1a2b3c"
    )
    digest = digest_message(job, "succeeded", text_result("*Sales* today: 42"), 0.2)
    post(slack, text=digest.text, blocks=digest.block_dicts())
    page.goto(slack.base_url)

    page.get_by_role("button", name="More actions").click()
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible(timeout=WAIT_MS)
    expect(menu.get_by_role("menuitem")).to_have_text(["Run now", "Pause", "Edit", "Remove…"])
    with page.expect_request("**/sandbox/action") as sent:
        menu.get_by_role("menuitem", name="Pause").click()
    chosen = sent.value.post_data_json
    assert chosen is not None
    assert (chosen["type"], chosen["value"], chosen["action_id"]) == (
        "overflow",
        "pause:s-1a2b3c",
        "reportbot_digest_menu",
    )
    expect(menu).to_be_hidden()


def test_dates_are_shown_in_the_readers_zone_and_unknown_emoji_as_their_names(slack: Any, page: Page) -> None:
    post(
        slack,
        text="at <!date^1767261600^{date_num} {time}|2026-01-01 10:00 UTC> :table_tennis_paddle_and_ball:",
    )
    page.goto(slack.base_url)
    text = page.locator(".msg-text").first
    expect(text).to_be_visible(timeout=WAIT_MS)
    expected = page.evaluate(
        "() => { const d = new Date(1767261600 * 1000); return `${d.getFullYear()}-`"
        " + `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} `"
        " + d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' }); }"
    )
    expect(text.locator(".date")).to_have_text(expected)
    expect(text.locator(".date")).to_have_attribute("title", "2026-01-01 10:00 UTC")
    # This machine has no emoji font: the shortcode stays readable instead of a blank box.
    has_font = page.evaluate("() => EMOJI_FONT")
    expect(text).to_contain_text("🏓" if has_font else ":table_tennis_paddle_and_ball:")


def test_the_channel_keeps_following_new_messages_after_a_tall_image(slack: Any, page: Page) -> None:
    page.goto(slack.base_url)
    for n in range(30):
        post(slack, text=f"filler {n}")
    tall = "data:image/svg+xml," + urllib.parse.quote(
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="360"><rect width="400" height="360"/></svg>'
    )
    post(slack, text="chart", blocks=[{"type": "image", "image_url": tall, "alt_text": "chart"}])
    expect(page.locator(".block-image img")).to_be_visible(timeout=WAIT_MS)
    post(slack, text="after the chart")
    last = page.locator(".msg-text", has_text="after the chart")
    expect(last).to_be_in_viewport(timeout=WAIT_MS)


def test_the_readmes_first_example_typed_in_the_page_shows_its_table(
    sandbox: SandboxProcess, page: Page
) -> None:
    page.goto(sandbox.url)
    type_command(page, '/run-report sales region=emea title="two words"')

    status = status_message(page, "sales")
    expect(status).to_contain_text("succeeded", timeout=WAIT_MS)
    table = status.locator(".thread table.bk-table")
    expect(table).to_be_visible(timeout=WAIT_MS)
    expect(table.locator("th").first).to_have_text("title")
    expect(table.locator("td", has_text="two words").first).to_be_visible()


def test_cancel_clicked_in_the_page_stops_the_running_report(page: Page, tmp_path: Path) -> None:
    """The local worker's report stops when its Cancel button is clicked and confirmed, as a
    real worker's would: the report stops writing, and its status message says cancelled."""
    marker = tmp_path / "ticks"

    def ticks() -> int:
        return len(marker.read_text().splitlines()) if marker.exists() else 0

    with run_sandbox(tmp_path, REPORT_MODULES="tests.local_mode_reports") as local:
        page.goto(local.url)
        type_command(page, f"/run-report ticking path={marker} seconds=30")
        status = status_message(page, "ticking")
        cancel = status.get_by_role("button", name="Cancel", exact=True)
        expect(cancel).to_be_visible(timeout=WAIT_MS)
        assert ticks() > 0
        cancel.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible(timeout=WAIT_MS)
        dialog.get_by_role("button", name="Cancel job").click()

        expect(status).to_contain_text("cancelled", timeout=WAIT_MS)
        expect(status).not_to_contain_text("running")
        stopped_at = ticks()
        page.wait_for_timeout(1000)  # a report still running writes 20 lines a second
        assert ticks() <= stopped_at + 1, "the report still runs after Cancel"
        assert "Traceback" not in local.output()
