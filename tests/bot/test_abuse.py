"""Bad input and abuse: any command text gets a clear, escaped, ephemeral answer in time; forged,
stale and unsigned requests are refused; restricted reports are refused with who may run them.

The property test drives the command handler the bot installs (`bot.app.make_handler` and
`build_app`: reports, status, cancel, schedules) on the real RabbitMQ and Redis with arbitrary
text; the HTTP tests send what a hostile or confused client would to the real `python run.py bot`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from slack_sdk import WebClient

from bot.commands import CommandHandler, Reply
from bot.publish import Publisher
from tasks.errors import UserError
from tasks.jobs.access import Access, AccessDenied, GroupDirectory, make_access, may_run, who_may
from tasks.jobs.records import JobRecords
from tasks.reports import Registry, Report, load_reports
from tasks.settings import Settings
from tasks.slack.web_api import WebApi
from tasks.store import MemoryStore
from tests.bot.test_grammar import _VOCABULARY
from tests.support import BOT_TOKEN, SIGNING_SECRET, TEST_REPORTS, base_env, free_port

# The command words of the grammar's own property tests, plus what attackers and confused people
# add: mentions, links, entities, control and bidi characters, other scripts.
_ABUSE = [
    "ping",
    "echo",
    "typed",
    "tz=Europe/Paris",
    "==",
    '"open',
    "text=",
    'text="two words"',
    "times=3",
    "times=-1",
    "day=today",
    "<!here>",
    "<@U0BOSS>",
    "<#C0FIN|finance>",
    "<http://evil.example|your bank>",
    "&amp;",
    "&lt;",
    "\x1b[2J",
    "\t",
    "\u202e",
    "\u200b",
    "é",
    "ß",
    "🙂",
    "👩‍👩‍👧",
    "日本語",
    "“smart”",
    "ＡＢＣ",
]
_WORD = _VOCABULARY | st.sampled_from(_ABUSE)
_TEXT = st.one_of(
    st.text(max_size=4000),
    st.lists(_WORD, max_size=30).map(" ".join),
    st.lists(_WORD | st.text(max_size=20), max_size=20).map("".join),
    st.builds(lambda head, n: head * n, _WORD, st.integers(1, 4000)).map(lambda s: s[:4000]),
)


@pytest.fixture(scope="module")
def handler(slack_server) -> CommandHandler:
    """The command handler with its broker down (a closed port) and its store in memory."""
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack_server.api_url,
        celery_broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        report_modules=tuple(TEST_REPORTS.split(",")),
    )
    return CommandHandler(
        settings=settings,
        registry=load_reports(settings.report_modules),
        publisher=Publisher(settings),
        records=JobRecords(MemoryStore()),
    )


def _payload(text: str) -> dict[str, str]:
    return {
        "text": text,
        "channel_id": "C0ABUSE",
        "user_id": "U0MALLORY",
        "team_id": "T0TEST",
        "response_url": "http://127.0.0.1:9/response/x",
    }


# The users and channels the fuzz types as; only these may ever be mentioned in an answer.
MALLORY, ADMIN = "U0MALLORY", "U0ADMIN"
ABUSE, OTHER = "C0ABUSE", "C0OTHER"
# What our own answers may contain as markup: a known user or channel, a date, a link to a thread.
_OURS = re.compile(
    rf"<(?:@(?:{MALLORY}|{ADMIN})|#(?:{ABUSE}|{OTHER})|!date\^\d+\^[^<>|]*\|[^<>]*|http://127\.0\.0\.1:\d+/archives/C\w+/p\d+\|(?:thread|message))>"
)
# Whole commands that reach the real answers; @JOB and @SCHEDULE become ids made earlier in the run.
_REAL = [
    "ping",
    'echo text="<!channel> hi"',
    "status @JOB",
    "cancel @JOB",
    "history",
    "schedule add ping every 1h",
    "schedule add echo text=<!here> every 2h tz=Europe/Paris",
    'schedule add ping cron "0 9 * * 1"',
    "schedule list",
    "schedule remove @SCHEDULE",
    "schedule pause @SCHEDULE",
    "schedule resume @SCHEDULE",
]
_TAIL = st.one_of(st.just(""), st.lists(_WORD, min_size=1, max_size=3).map(" ".join))
_COMMAND = st.one_of(
    _TEXT,
    st.builds(lambda real, tail: f"{real} {tail}".strip(), st.sampled_from(_REAL), _TAIL),
    st.sampled_from(_REAL),
)


class Installed:
    """The command handler `python run.py bot` builds (schedules, cancel and the buttons installed),
    on this session's RabbitMQ virtual host and Redis prefix, and what the fuzz made with it."""

    def __init__(self, slack_api_url: str) -> None:
        from bot.app import build_app, make_handler
        from tasks.settings import load_settings

        self.settings = load_settings(base_env(slack_api_url, ADMIN_USERS=ADMIN), dotenv=None)
        self.handler = make_handler(self.settings)
        build_app(self.settings, self.handler)
        self.jobs: list[str] = []
        self.schedules: list[tuple[str, str]] = []

    def say(self, text: str, user: str, channel: str) -> Reply:
        text = text.replace("@JOB", self.jobs[-1] if self.jobs else "0badf00d")
        text = text.replace("@SCHEDULE", self.schedules[-1][0] if self.schedules else "s-0badf0")
        # Slack gives every delivery a trigger_id of its own.
        delivery = {"user_id": user, "channel_id": channel, "trigger_id": secrets.token_hex(8)}
        return self.handler.handle({**_payload(text), **delivery})

    def remember(self, reply: Reply, user: str, channel: str) -> None:
        """Cancel a job the reply queued at once (as its owner would), so no worker runs it later;
        keep a schedule it added for later examples to change, until the test ends."""
        if reply.outcome == "queued":
            queued = re.search(r"as job `([0-9a-f]{8})`", reply.text)
            assert queued, reply.text
            job_id = queued.group(1)
            self.jobs.append(job_id)
            check_answer(f"cancel {job_id}", self.say(f"cancel {job_id}", user, channel))
        if reply.outcome == "scheduled":
            scheduled = re.search(r"as `(s-[0-9a-f]+)`", reply.text)
            assert scheduled, reply.text
            self.schedules.append((scheduled.group(1), channel))

    def remove_schedules(self) -> None:
        for schedule_id, channel in self.schedules:
            check_answer("schedule remove", self.say(f"schedule remove {schedule_id}", ADMIN, channel))


def check_answer(text: str, reply: Reply) -> None:
    """A clear answer, never a bug's apology, and nothing typed turned into markup."""
    assert reply.text.strip(), f"empty reply to {text!r}"
    assert reply.outcome != "error", f"{text!r} hit a bug: {reply.text}"
    rest = _OURS.sub("", reply.text)
    assert "<" not in rest and ">" not in rest, f"unescaped text in the reply to {text!r}: {reply.text}"


@pytest.fixture(scope="module")
def installed(services, slack_server) -> Iterator[Installed]:
    rig = Installed(slack_server.api_url)
    yield rig
    rig.remove_schedules()


@hsettings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_COMMAND, user=st.sampled_from([MALLORY, ADMIN]), channel=st.sampled_from([ABUSE, OTHER]))
def test_any_command_text_gets_a_clear_escaped_answer_never_an_error(
    installed: Installed, text: str, user: str, channel: str
) -> None:
    """The real installed handler: reports queued on the real broker, status, cancel and the
    schedule commands answered from the real Redis, as a non-admin and as an admin, in two channels."""
    reply = installed.say(text, user, channel)
    check_answer(text, reply)
    installed.remember(reply, user, channel)


def test_the_fuzz_reaches_the_real_answers_of_every_installed_command(installed: Installed) -> None:
    """The property above is only as strong as the answers it reaches: each command kind gets
    its real answer here (not "not available", not "not queued")."""
    outcomes = {}
    for text, user in [
        ("ping", MALLORY),
        ("schedule add ping every 1h", ADMIN),
        ("schedule add ping every 1h", MALLORY),
        ("status @JOB", MALLORY),
        ("cancel @JOB", MALLORY),
        ("schedule pause @SCHEDULE", ADMIN),
        ("schedule list", MALLORY),
    ]:
        reply = installed.say(text, user, ABUSE)
        check_answer(text, reply)
        assert "not available" not in reply.text and "Nothing was queued" not in reply.text, reply.text
        outcomes[(text, user)] = reply
        installed.remember(reply, user, ABUSE)
    assert outcomes[("ping", MALLORY)].outcome == "queued"
    assert outcomes[("schedule add ping every 1h", ADMIN)].outcome == "scheduled"
    assert f"Only <@{ADMIN}> may add schedules" in outcomes[("schedule add ping every 1h", MALLORY)].text
    assert "*cancelled*" in outcomes[("status @JOB", MALLORY)].text
    assert "already cancelled" in outcomes[("cancel @JOB", MALLORY)].text
    assert "Paused schedule" in outcomes[("schedule pause @SCHEDULE", ADMIN)].text
    assert installed.schedules[-1][0] in outcomes[("schedule list", MALLORY)].text


@pytest.mark.unit
def test_a_mention_typed_as_a_report_name_is_shown_escaped(handler) -> None:
    reply = handler.handle(_payload("<!channel>"))
    assert reply.outcome == "refused"
    assert "&lt;!channel&gt;" in reply.text


@pytest.mark.unit
def test_when_the_broker_is_down_the_user_is_told_nothing_was_queued(handler) -> None:
    started = time.monotonic()
    reply = handler.handle(_payload("ping"))
    assert time.monotonic() - started < 2.0
    assert reply.outcome == "not_queued" and "Nothing was queued" in reply.text


# ------------------------------------------------------------------ access control, pure


def _finance(**limits) -> Report:
    return Report.from_function(lambda: "42", name="finance", **limits)


@pytest.mark.unit
def test_an_unrestricted_report_may_be_run_by_anyone_anywhere() -> None:
    assert may_run(_finance(), "C0ANY", "U0ANY")


@pytest.mark.unit
def test_a_restricted_report_needs_the_right_channel_and_the_right_person() -> None:
    r = _finance(channels=["C0FIN"], users=["U0BOSS"], groups=["S0FIN"])
    assert may_run(r, "C0FIN", "U0BOSS")
    assert may_run(r, "C0FIN", "U0CAROL", ["S0FIN"])
    assert not may_run(r, "C0GEN", "U0BOSS")
    assert not may_run(r, "C0FIN", "U0MALLORY")
    assert not may_run(r, "C0FIN", "U0MALLORY", ["S0OTHER"])


@pytest.mark.unit
def test_a_channel_only_restriction_lets_anyone_run_it_there() -> None:
    r = _finance(channels=["C0FIN"])
    assert may_run(r, "C0FIN", "U0ANY") and not may_run(r, "C0GEN", "U0ANY")


@pytest.mark.unit
def test_a_refusal_says_where_and_by_whom_the_report_may_be_run() -> None:
    text = who_may(_finance(channels=["C0FIN"], users=["U0BOSS"], groups=["S0FIN"]))
    assert (
        text == "`finance` can be run only in <#C0FIN>, and only by <@U0BOSS> or members of <!subteam^S0FIN>."
    )


def _access(slack) -> Access:
    return make_access(lambda: WebApi(WebClient(token=BOT_TOKEN, base_url=slack.api_url)))


@pytest.mark.unit
def test_group_members_are_looked_up_in_slack_and_cached(slack) -> None:
    slack.set_usergroup("S0FIN", ["U0CAROL"])
    access = _access(slack)
    r = _finance(groups=["S0FIN"])
    access.check(r, "C0FIN", "U0CAROL")
    access.check(r, "C0FIN", "U0CAROL")
    with pytest.raises(AccessDenied) as refused:
        access.check(r, "C0FIN", "U0MALLORY")
    assert "members of <!subteam^S0FIN>" in refused.value.message
    assert len(slack.requests("usergroups.users.list")) == 1, "one lookup, then the cache"


@pytest.mark.unit
def test_reports_without_groups_never_ask_slack(slack) -> None:
    access = _access(slack)
    access.check(_finance(), "C0ANY", "U0ANY")
    with pytest.raises(AccessDenied):
        access.check(_finance(users=["U0BOSS"]), "C0ANY", "U0MALLORY")
    assert slack.requests("usergroups.users.list") == []


@pytest.mark.unit
def test_when_slack_cannot_list_a_group_access_is_refused_with_a_try_again(slack) -> None:
    slack.fail("usergroups.users.list", "missing_scope")
    access = Access(GroupDirectory(lambda: WebApi(WebClient(token=BOT_TOKEN, base_url=slack.api_url))))
    # A refusal the person reads: AccessDenied, or GroupLookupFailed when Slack did not answer.
    with pytest.raises(UserError) as refused:
        access.check(_finance(groups=["S0FIN"]), "C0FIN", "U0CAROL")
    assert "try again" in refused.value.message and "Nothing was queued" in refused.value.message


@pytest.mark.unit
def test_the_bot_refuses_a_restricted_report_before_queueing_and_says_who_may(slack_server) -> None:
    registry = Registry()
    registry.add(_finance(channels=["C0FIN"], users=["U0BOSS"]))
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack_server.api_url,
        celery_broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
    )
    handler = CommandHandler(settings, registry, Publisher(settings), JobRecords(MemoryStore()))
    reply = handler.handle({**_payload("finance"), "channel_id": "C0FIN", "user_id": "U0MALLORY"})
    assert reply.outcome == "refused"
    assert (
        "You cannot run `finance` here" in reply.text
        and "<@U0BOSS>" in reply.text
        and "<#C0FIN>" in reply.text
    )
    # The allowed person gets past the check (and on to the broker, which is down here).
    allowed = handler.handle({**_payload("finance"), "channel_id": "C0FIN", "user_id": "U0BOSS"})
    assert allowed.outcome == "not_queued"


# ------------------------------------------------------------- the real HTTP bot


def _answer(response) -> str:
    body = response.body
    return body.get("text", "") if isinstance(body, dict) else str(body or "")


@pytest.mark.parametrize(
    "text",
    [
        "x" * 4000,
        'echo text="' + "é🙂\u202e" * 1300,
        "\x00\x01\x07\x1b[31m \u200b\ufeff ＰＩＮＧ",
        "= = == ='' \"",
        "<!channel> <@U0BOSS> <http://evil.example|bank>",
    ],
    ids=["4000-chars", "open-quote-unicode", "control-chars", "equals-alone", "mentions"],
)
def test_weird_commands_over_http_get_an_answer_in_time(slack, http_bot, text: str) -> None:
    response = slack.send_command("/run-report", text, channel="C0ABUSE", user="U0MALLORY")
    assert response.status == 200 and response.ok, response
    assert response.elapsed < 3.0
    answer = _answer(response)
    assert answer.strip() and "Traceback" not in answer
    assert "<!channel>" not in answer and "<@U0BOSS>" not in answer and "<http" not in answer
    # The person sees it, privately.
    assert slack.ephemerals(user="U0MALLORY", channel="C0ABUSE")


def test_a_correctly_signed_command_is_accepted(slack, http_bot) -> None:
    response = slack.send_command("/run-report", "list", channel="C0ABUSE")
    assert response.status == 200 and "Reports" in _answer(response)


@pytest.mark.parametrize(
    "override",
    [
        {"secret": "not-the-" + SIGNING_SECRET},
        {"headers": {"X-Slack-Signature": None}},
        {"headers": {"X-Slack-Request-Timestamp": None}},
        {"headers": {"X-Slack-Signature": None, "X-Slack-Request-Timestamp": None}},
        {"timestamp": int(time.time()) - 6 * 60},
    ],
    ids=[
        "wrong-secret",
        "missing-signature",
        "missing-timestamp",
        "no-signature-headers",
        "replayed-after-5-minutes",
    ],
)
def test_unsigned_forged_or_replayed_requests_are_refused(slack, http_bot, worker, override) -> None:
    response = slack.send_command("/run-report", "ping", channel="C0FORGED", **override)
    assert response.status == 401
    assert "Queued" not in str(response.body)
    # Long enough for the running worker to have posted the job's status message, had one been queued.
    time.sleep(1.0)
    assert slack.messages("C0FORGED") == [], "a job was queued for a refused request"


def test_a_replayed_request_is_refused_even_with_a_valid_old_signature(slack, http_bot) -> None:
    # The signature is right for its timestamp; only its age gives it away.
    old = int(time.time()) - 301 - 5
    assert slack.send_command("/run-report", "ping", timestamp=old).status == 401
    assert slack.send_command("/run-report", "list", timestamp=int(time.time()) - 60).status == 200
