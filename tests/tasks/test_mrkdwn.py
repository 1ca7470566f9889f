"""Escaping what people typed, so Slack shows it instead of acting on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tasks.mrkdwn import code, escape_mrkdwn


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
