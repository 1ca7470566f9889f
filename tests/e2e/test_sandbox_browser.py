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


# ------------------------------------------------- the Home tab, modals, shortcuts, channel events


def web_client(slack: Any) -> Any:
    from slack_sdk import WebClient

    from tests.support import BOT_TOKEN

    return WebClient(BOT_TOKEN, base_url=slack.api_url)


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def choice(value: str, text: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def home_view(state: str) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("Your schedules")},
            {
                "type": "section",
                "block_id": "sched-1",
                "text": {"type": "mrkdwn", "text": f"*sales* every day at 09:00 · {state}"},
                "accessory": {
                    "type": "overflow",
                    "action_id": "schedule.menu",
                    "options": [choice("pause:1", "Pause"), choice("remove:1", "Remove")],
                },
            },
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<script>window.hacked=1</script>"}]},
        ],
    }


def test_opening_the_home_tab_shows_what_the_app_publishes_and_its_overflow_reaches_the_app(
    slack: Any, page: Page
) -> None:
    from tests.sandbox.stand_in_bot import stand_in_bot

    client = web_client(slack)

    def answer(body: dict[str, Any]) -> None:
        if body.get("type") == "event_callback" and body["event"]["type"] == "app_home_opened":
            client.views_publish(user_id=body["event"]["user"], view=home_view("active"))
        if (
            body.get("type") == "block_actions"
            and body["actions"][0]["selected_option"]["value"] == "pause:1"
        ):
            client.views_publish(user_id="U0SANDBOX", view=home_view("paused"))

    with stand_in_bot(slack, answer) as bot:
        page.goto(slack.base_url)
        page.get_by_role("link", name="reportbot — Home").click()
        home = page.locator(".home")
        expect(home.locator(".block-header")).to_have_text("Your schedules", timeout=WAIT_MS)
        expect(home.locator(".section")).to_contain_text("sales every day at 09:00 · active")
        expect(home.locator(".block-context")).to_have_text("<script>window.hacked=1</script>")
        expect(page.get_by_label("Message box")).to_be_hidden()  # the Home tab has no composer

        home.get_by_role("button", name="More actions").click()
        page.get_by_role("menuitem", name="Pause").click()
        expect(home.locator(".section")).to_contain_text("· paused", timeout=WAIT_MS)  # live
    [opened] = bot.of_type("app_home_opened")
    assert (opened["event"]["user"], opened["event"]["tab"]) == ("U0SANDBOX", "home")
    [click] = bot.of_type("block_actions")
    assert click["container"]["type"] == "view" and click["view"]["type"] == "home"
    assert page.evaluate("window.hacked") is None


def report_form(title: str = "Run a report", extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def field(block_id: str, label: str, element: dict[str, Any], **more: Any) -> dict[str, Any]:
        block = {"type": "input", "block_id": block_id, "label": plain(label)}
        return {**block, "element": {"action_id": "value", **element}, **more}

    return {
        "type": "modal",
        "callback_id": "report_form",
        "title": plain(title),
        "submit": plain("Run"),
        "close": plain("Cancel"),
        "blocks": [
            field(
                "region",
                "Region",
                {"type": "static_select", "options": [choice("emea", "EMEA"), choice("amer", "Americas")]},
                dispatch_action=True,
            ),
            field("title", 'Title <img src=x onerror="window.hacked=2">', {"type": "plain_text_input"}),
            field(
                "days", "Days", {"type": "number_input", "is_decimal_allowed": False, "initial_value": "7"}
            ),
            field("day", "From", {"type": "datepicker", "initial_date": "2026-03-29"}),
            field("at", "Time of day", {"type": "timepicker", "initial_time": "09:00"}),
            field(
                "csv",
                "Attach",
                {"type": "checkboxes", "options": [choice("csv", "a CSV file")]},
                optional=True,
            ),
            field(
                "channel", "Post in", {"type": "conversations_select", "initial_conversation": "C0SANDBOX"}
            ),
            *(extra or []),
        ],
    }


def test_a_shortcut_opens_a_modal_whose_fields_are_real_controls_with_errors_under_them(
    slack: Any, page: Page, tmp_path: Path
) -> None:
    """⚡ → the app opens its form on the trigger_id; a dispatching select updates the form and
    keeps what was typed; a refused submission shows the error under its field; a good one
    closes the form."""
    from tests.sandbox.stand_in_bot import stand_in_bot

    client = web_client(slack)
    submitted: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> Any:
        if body["type"] == "shortcut":
            client.views_open(trigger_id=body["trigger_id"], view=report_form())
        elif body["type"] == "block_actions":  # the region changed: the form says more
            region = body["actions"][0]["selected_option"]["value"]
            note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Region {region} chosen"}]}
            client.views_update(view_id=body["view"]["id"], view=report_form(extra=[note]))
        elif body["type"] == "view_submission":
            values = body["view"]["state"]["values"]
            submitted.append(values)
            if values["days"]["value"]["value"] != "30":
                return {"response_action": "errors", "errors": {"days": "At most 30 days, please."}}
        return None

    with stand_in_bot(slack, answer) as bot:
        page.goto(slack.base_url)
        page.get_by_role("button", name="Shortcuts").click()
        page.get_by_role("menuitem", name="Run a report").click()
        dialog = page.get_by_role("dialog", name="Run a report")
        expect(dialog).to_be_visible(timeout=WAIT_MS)
        expect(dialog.get_by_label("Days")).to_have_value("7")
        expect(dialog.get_by_label("From")).to_have_value("2026-03-29")
        expect(dialog.get_by_label("Time of day")).to_have_value("09:00")
        expect(dialog.get_by_label("Post in")).to_have_value("C0SANDBOX")
        assert dialog.get_by_label("Days").get_attribute("type") == "number"

        dialog.get_by_label(re.compile("^Title")).fill("Q3 review")
        dialog.get_by_label("Region").select_option("amer")
        expect(dialog).to_contain_text("Region amer chosen", timeout=WAIT_MS)
        expect(dialog.get_by_label(re.compile("^Title"))).to_have_value("Q3 review")  # kept

        dialog.get_by_label("Days").fill("90")
        dialog.get_by_label("a CSV file").check()
        dialog.get_by_role("button", name="Run").click()
        error = dialog.locator(".input-block", has=page.get_by_label("Days")).locator(".field-error")
        expect(error).to_have_text("At most 30 days, please.", timeout=WAIT_MS)
        expect(dialog.get_by_label("Days")).to_have_value("90")
        page.screenshot(path=str(tmp_path / "modal-errors.png"))
        if Path("/tmp").is_dir():
            shutil.copy(tmp_path / "modal-errors.png", "/tmp/reportbot-sandbox-modal-errors.png")

        dialog.get_by_label("Days").fill("30")
        dialog.get_by_role("button", name="Run").click()
        expect(page.get_by_role("dialog")).to_have_count(0, timeout=WAIT_MS)
    assert bot.of_type("shortcut")[0]["callback_id"] == "run_report"
    last = submitted[-1]
    assert last["title"]["value"]["value"] == "Q3 review"
    assert last["region"]["value"]["selected_option"]["value"] == "amer"
    assert [o["value"] for o in last["csv"]["value"]["selected_options"]] == ["csv"]
    assert last["channel"]["value"]["selected_conversation"] == "C0SANDBOX"
    assert page.evaluate("window.hacked") is None


def test_a_pushed_view_stacks_and_back_returns_to_the_form(slack: Any, page: Page) -> None:
    from tests.sandbox.stand_in_bot import stand_in_bot

    client = web_client(slack)
    more = {
        "type": "actions",
        "block_id": "more",
        "elements": [{"type": "button", "action_id": "details", "text": plain("Details…"), "value": "d"}],
    }

    def answer(body: dict[str, Any]) -> None:
        if body["type"] == "block_actions":
            details = {
                "type": "modal",
                "title": plain("Details"),
                "blocks": [{"type": "section", "text": plain("More about it")}],
            }
            client.views_push(trigger_id=body["trigger_id"], view=details)

    with stand_in_bot(slack, answer):
        trigger = slack.views.mint_trigger("U0SANDBOX")
        client.views_open(trigger_id=trigger, view=report_form(extra=[more]))
        page.goto(slack.base_url)
        page.get_by_role("dialog", name="Run a report").get_by_role("button", name="Details…").click()
        pushed = page.get_by_role("dialog", name="Details")
        expect(pushed).to_contain_text("More about it", timeout=WAIT_MS)
        pushed.get_by_role("button", name="Back").click()
        expect(page.get_by_role("dialog", name="Run a report")).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
        expect(page.get_by_role("dialog")).to_have_count(0, timeout=WAIT_MS)
    assert slack.open_views("U0SANDBOX") == []


def test_the_channel_menu_archives_the_channel_and_the_app_hears_it(slack: Any, page: Page) -> None:
    from tests.sandbox.stand_in_bot import stand_in_bot

    post(slack, text="a digest")
    with stand_in_bot(slack) as bot:
        page.goto(slack.base_url)
        expect(page.locator(".msg-text")).to_have_text("a digest", timeout=WAIT_MS)
        page.get_by_role("button", name="Channel menu").click()
        page.get_by_role("menuitem", name="Archive channel").click()
        page.get_by_role("dialog").get_by_role("button", name="Archive").click()
        expect(page.locator("#channel-status")).to_have_text("archived", timeout=WAIT_MS)
    [event] = bot.of_type("channel_archive")
    assert event["event"]["channel"] == "C0SANDBOX"


def test_a_field_that_dispatches_as_you_type_keeps_what_you_type_and_the_focus_when_redrawn(
    slack: Any, page: Page
) -> None:
    from tests.sandbox.stand_in_bot import stand_in_bot

    client = web_client(slack)

    def form(preview: str) -> dict[str, Any]:
        cron = {
            "type": "input",
            "block_id": "cron",
            "label": plain("Cron rule"),
            "dispatch_action": True,
            "element": {
                "type": "plain_text_input",
                "action_id": "field.cron",
                "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]},
            },
        }
        shown = {
            "type": "section",
            "block_id": "preview",
            "text": {"type": "mrkdwn", "text": f"Rule: `{preview}`"},
        }
        return {
            "type": "modal",
            "title": plain("New schedule"),
            "submit": plain("Save"),
            "blocks": [cron, shown],
        }

    def redraw(body: dict[str, Any]) -> None:
        typed = body["actions"][0]["value"] or ""
        client.views_update(view_id=body["view"]["id"], hash=body["view"]["hash"], view=form(typed))

    with stand_in_bot(slack, redraw):
        client.views_open(trigger_id=slack.views.mint_trigger("U0SANDBOX"), view=form(""))
        page.goto(slack.base_url)
        field = page.get_by_role("dialog").get_by_label("Cron rule")
        field.click()
        page.keyboard.type("0 9")
        expect(page.get_by_role("dialog").locator("code")).to_have_text("0 9", timeout=WAIT_MS)
        page.keyboard.type(" * * 1-5")  # still in the field after the redraw
        expect(page.get_by_role("dialog").locator("code")).to_have_text("0 9 * * 1-5", timeout=WAIT_MS)
        expect(page.get_by_role("dialog").get_by_label("Cron rule")).to_have_value("0 9 * * 1-5")


def test_a_direct_message_to_the_pages_user_is_shown_as_a_dm_without_the_channel_menu(
    slack: Any, page: Page
) -> None:
    slack.set_user("U0SANDBOX", name="you")
    web_client(slack).chat_postMessage(
        channel="U0SANDBOX", text="Your schedule paused: the channel was archived."
    )
    page.goto(slack.base_url)
    page.get_by_role("link", name="@ you").click()
    expect(page.locator(".msg-text")).to_have_text(
        "Your schedule paused: the channel was archived.", timeout=WAIT_MS
    )
    expect(page.locator("#channel-name")).to_have_text("@ you")
    expect(page.get_by_role("button", name="Channel menu")).to_be_hidden()


# ------------------------------------------------------------- the bot's own forms, end to end


def test_the_report_form_runs_a_report_with_arguments_with_clicks_only(
    sandbox: SandboxProcess, page: Page, tmp_path: Path
) -> None:
    """A person who never saw the grammar: ⚡ → Run a report, pick `sales`, fill its arguments in
    the controls drawn for their types, run it; the result is posted in the channel."""
    page.goto(sandbox.url)
    page.get_by_role("button", name="Shortcuts").click()
    page.get_by_role("menuitem", name="Run a report").click()
    form = page.get_by_role("dialog")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_label(re.compile("^report", re.I)).first.select_option("sales")
    region = form.get_by_label(re.compile("^region", re.I))
    expect(region).to_be_visible(timeout=WAIT_MS)
    region.select_option("emea")
    form.get_by_label(re.compile("^days", re.I)).fill("14")
    form.get_by_label(re.compile("^title", re.I)).fill("two words")
    form.get_by_label("Post in").select_option(label="#sandbox")  # a shortcut names no channel
    page.screenshot(path=str(tmp_path / "report-form.png"))
    if Path("/tmp").is_dir():
        shutil.copy(tmp_path / "report-form.png", "/tmp/reportbot-sandbox-report-form.png")
    form.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=WAIT_MS)

    status = status_message(page, "sales")
    expect(status).to_contain_text("succeeded", timeout=WAIT_MS)
    table = status.locator(".thread table.bk-table")
    expect(table.locator("td", has_text="two words").first).to_be_visible(timeout=WAIT_MS)


def test_the_schedule_form_makes_a_schedule_with_clicks_only(
    sandbox: SandboxProcess, page: Page, tmp_path: Path
) -> None:
    """A person who never saw `schedule add`'s grammar: Schedule… under `schedule list`, pick a
    report and a rhythm, watch the preview follow, save; the listing shows it."""
    page.goto(sandbox.url)
    type_command(page, "/run-report schedule list")
    page.get_by_role("button", name="Schedule…").last.click()
    form = page.get_by_role("dialog", name="New schedule")
    expect(form).to_be_visible(timeout=WAIT_MS)
    expect(form).to_contain_text("Next runs")

    form.get_by_label("Report").select_option("ping")
    form.get_by_role("radio", name="Every N minutes, hours or days").check()
    every = form.get_by_label("Every", exact=True)
    expect(every).to_be_visible(timeout=WAIT_MS)
    every.fill("2")
    form.get_by_label("Unit").select_option("h")
    page.wait_for_function(
        """() => {  // the preview's next runs are two hours apart (the form is redrawn: look anew)
          const el = [...document.querySelectorAll("#view-modal .section")].pop();
          if (!el) return false;
          const at = [...el.innerText.matchAll(/(\\d\\d):(\\d\\d) [A-Z]/g)].map(m => m[1] * 60 + +m[2]);
          return at.length === 3 && at.every((t, i) => i === 0 || (t - at[i - 1] + 1440) % 1440 === 120);
        }""",
        timeout=WAIT_MS,
    )
    expect(form.get_by_label("Report")).to_have_value("ping")  # kept through every redraw
    page.screenshot(path=str(tmp_path / "schedule-form.png"))
    if Path("/tmp").is_dir():
        shutil.copy(tmp_path / "schedule-form.png", "/tmp/reportbot-sandbox-schedule-form.png")

    form.get_by_role("button", name="Save schedule").click()
    saved = page.get_by_role("dialog", name="Schedule saved")
    expect(saved).to_contain_text("every 2h", timeout=WAIT_MS)
    schedule_id = re.search(r"s-[0-9a-f]{6}", saved.inner_text())
    assert schedule_id, saved.inner_text()
    saved.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=WAIT_MS)

    type_command(page, "/run-report schedule list")
    listing = page.locator(".msg.ephemeral").filter(has_text=schedule_id.group(0)).last
    expect(listing).to_contain_text("ping", timeout=WAIT_MS)


def test_the_home_tab_makes_pauses_edits_and_removes_a_schedule_with_clicks_only(
    sandbox: SandboxProcess, page: Page
) -> None:
    """Issue 25's "done": a schedule created, paused, edited and removed from the App Home, with
    the forms and buttons only, the Home following each change."""
    page.goto(sandbox.url)
    page.get_by_role("link", name="reportbot — Home").click()
    home = page.locator(".home")
    home.get_by_role("button", name="New schedule…").click()
    form = page.get_by_role("dialog", name="New schedule")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Report").select_option("ping")
    form.get_by_role("radio", name="Every N minutes, hours or days").check()
    expect(form.get_by_label("Every", exact=True)).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Every", exact=True).fill("3")
    form.get_by_label("Unit").select_option("h")
    form.get_by_label("Post in").select_option(label="#sandbox")  # the Home is in no channel
    form.get_by_role("button", name="Save schedule").click()
    saved = page.get_by_role("dialog", name="Schedule saved")
    expect(saved).to_contain_text("every 3h", timeout=WAIT_MS)
    found = re.search(r"s-[0-9a-f]{6}", saved.inner_text())
    assert found, saved.inner_text()
    schedule_id = found.group(0)
    saved.get_by_role("button", name="Done").click()

    row = home.locator(f'[data-block-id="home_schedule_{schedule_id}"]')
    buttons = home.locator(f'[data-block-id="home_buttons_{schedule_id}"]')
    expect(row).to_contain_text("every 3h", timeout=WAIT_MS)
    buttons.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("Paused", timeout=WAIT_MS)
    expect(buttons.get_by_role("button", name="Resume")).to_be_visible()

    buttons.get_by_role("button", name="Edit…").click()
    edit = page.get_by_role("dialog", name="Edit schedule")
    expect(edit.get_by_label("Every", exact=True)).to_have_value("3", timeout=WAIT_MS)
    edit.get_by_label("Every", exact=True).fill("5")
    edit.get_by_role("button", name="Save changes").click()
    page.get_by_role("dialog").get_by_role("button", name="Done").click()
    expect(row).to_contain_text("every 5h", timeout=WAIT_MS)

    buttons.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0, timeout=WAIT_MS)


def test_archiving_the_channel_from_its_menu_pauses_its_schedule_and_says_so(
    page: Page, tmp_path: Path
) -> None:
    """The channel menu's Archive sends Slack's channel_archive to the real bot: the schedule
    posting there pauses, its creator hears why in a DM, and the Home shows it paused."""
    with run_sandbox(tmp_path) as local:  # its own: the channel stays archived
        page.goto(local.url)
        type_command(page, "/run-report schedule add ping every 1h")
        added = page.locator(".msg.ephemeral").filter(has_text="s-").last
        expect(added).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("button", name="Channel menu").click()
        page.get_by_role("menuitem", name="Archive channel").click()
        page.get_by_role("dialog").get_by_role("button", name="Archive").click()
        expect(page.locator("#channel-status")).to_have_text("archived", timeout=WAIT_MS)

        page.get_by_role("link", name="@ you").click(timeout=WAIT_MS)
        expect(page.locator("#messages")).to_contain_text("archived", timeout=WAIT_MS)
        page.get_by_role("link", name="reportbot — Home").click()
        expect(page.locator(".home")).to_contain_text("Paused", timeout=WAIT_MS)
        assert "Traceback" not in local.output()
