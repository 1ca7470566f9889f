"""Escaping what people typed, so Slack shows it instead of acting on it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.slack.mrkdwn import code, escape_mrkdwn, without_broadcasts

pytestmark = pytest.mark.unit


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_mentions_and_links_cannot_ping_or_link() -> None:
    assert (
        escape_mrkdwn("<!channel> <@U123> <http://x|y>")
        == "&lt;!channel&gt; &lt;@U123&gt; &lt;http://x|y&gt;"
    )


def test_ampersand_is_escaped_first_so_nothing_is_escaped_twice() -> None:
    assert escape_mrkdwn("&lt; & <") == "&amp;lt; &amp; &lt;"


def test_other_characters_are_left_alone() -> None:
    assert escape_mrkdwn("*bold* _it_ `code` \"q\" 'q' ü") == "*bold* _it_ `code` \"q\" 'q' ü"


def test_code_wraps_escaped_text_in_backticks() -> None:
    assert code("a<b>`c`") == "`a&lt;b&gt;'c'`"


@given(st.text())
def test_escaped_text_has_no_angle_brackets_and_unescapes_back(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == text


BROADCAST = re.compile(r"<!(?!date\^)")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel> hi", "&lt;!channel&gt; hi"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<!everyone>", "&lt;!everyone&gt;"),
        ("<!subteam^S0123|@ops & co>", "&lt;!subteam^S0123|@ops &amp; co&gt;"),
        ("a\u200b<\u200b!channel>", "a\u200b&lt;!channel&gt;"),
        ("<\u2060\ufeff!here>", "&lt;!here&gt;"),
        ("<!<!channel>>", "&lt;!&lt;!channel&gt;>"),
        ("unclosed <!chan", "unclosed &lt;!chan"),
    ],
)
def test_broadcasts_are_shown_as_text(text: str, shown: str) -> None:
    assert without_broadcasts(text) == shown


def test_user_mentions_links_and_dates_are_left_working() -> None:
    text = "<@U0123> <#C0123|general> <https://x.org|docs> <mailto:a@b.c> <!date^1700000000^{date}|today>"
    assert without_broadcasts(text) == text


@given(st.lists(st.sampled_from(["<", ">", "!", "&", "|", "^", "a", "date", "\u200b", "\u2060", "@"])))
def test_no_broadcast_survives_even_once_invisible_characters_are_dropped(pieces: list[str]) -> None:
    text = "".join(pieces)
    shown = without_broadcasts(text)
    assert not BROADCAST.search(shown.replace("\u200b", "").replace("\u2060", ""))
