"""What the worker's log may keep of an error: everything but credentials, whatever their shape.

`redact` is pure: these tests need no services. The property tests generate secrets of every
shape it knows (a URL's password, Slack and AWS keys, `password=`-style values, Bearer tokens,
PEM private keys) inside ordinary text, and check that none survives.
"""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks.logs import configure_logging, redact
from tasks.settings import Settings

pytestmark = pytest.mark.unit

ISSUE_ERROR = (
    "db login failed: postgresql://admin:Hunter2@db.internal/prod AKIAIOSFODNN7EXAMPLE token=xoxp-1234-abcd"
)

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,()", max_size=30)
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# A password as people set them: letters, digits and punctuation, `@` included, never a slash
# (a URL would read it as the path) nor whitespace.
PASSWORD = st.text(alphabet=TOKEN_CHARS + "!$%^*()_+-=[]{}|;:',.<>?~@#&", min_size=6, max_size=30).filter(
    lambda p: not p.startswith("@") and not p.endswith("@")
)
SCHEME = st.sampled_from(
    ["postgresql", "postgresql+psycopg", "mysql", "amqp", "amqps", "redis", "rediss", "https", "mongodb+srv"]
)


def slack_token() -> st.SearchStrategy[str]:
    parts = st.lists(st.text(alphabet=TOKEN_CHARS, min_size=4, max_size=16), min_size=2, max_size=4)
    prefix = st.sampled_from(["xoxb", "xoxp", "xoxa", "xoxe", "xoxs", "xoxr", "xapp", "xoxe.xoxp"])
    return st.builds(lambda p, ps: "-".join([p, *ps]), prefix, parts)


def aws_key() -> st.SearchStrategy[str]:
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return st.builds(
        lambda p, rest: p + rest,
        st.sampled_from(["AKIA", "ASIA"]),
        st.text(alphabet=upper, min_size=16, max_size=16),
    )


def key_value() -> st.SearchStrategy[tuple[str, str]]:
    key = st.sampled_from(
        [
            "password",
            "PASSWORD",
            "db_password",
            "passwd",
            "pwd",
            "token",
            "access_token",
            "secret",
            "client_secret",
            "api_key",
            "apikey",
        ]
    )
    sep = st.sampled_from(["=", ": ", " = ", '": "', "='"])
    value = st.text(alphabet=TOKEN_CHARS + "+/=._-", min_size=6, max_size=40)
    return st.builds(lambda k, s, v: (f"{k}{s}{v}", v), key, sep, value)


def pem_key() -> st.SearchStrategy[tuple[str, str]]:
    kind = st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
    body = st.text(alphabet=TOKEN_CHARS + "+/", min_size=40, max_size=200)
    return st.builds(
        lambda k, b: (
            f"-----BEGIN {k}PRIVATE KEY-----\n{b[:64]}\n{b[64:]}\n-----END {k}PRIVATE KEY-----",
            b[:40],
        ),
        kind,
        body,
    )


def test_the_issues_error_keeps_what_helps_and_loses_every_secret() -> None:
    text = redact(ISSUE_ERROR)
    for secret in ("Hunter2", "AKIAIOSFODNN7EXAMPLE", "xoxp-1234-abcd", "1234-abcd"):
        assert secret not in text
    assert text.startswith("db login failed: postgresql://admin:[redacted]@db.internal/prod ")


def test_configured_secrets_of_any_form_are_redacted_too() -> None:
    assert redact("connecting with S3cretBroker!", ["S3cretBroker!"]) == "connecting with [redacted]"
    assert redact("a short one: guest", ["guest"]) == "a short one: guest", "too short to replace everywhere"


@settings(max_examples=150, deadline=None)
@given(
    before=WORDS,
    after=WORDS,
    scheme=SCHEME,
    user=st.text(alphabet=TOKEN_CHARS + "._-", max_size=12),
    password=PASSWORD,
)
# A user named like a credential key: the key=value rule once blanked the host after it.
@example(before="token", after="token", scheme="mysql", user="token", password="000000")
def test_a_password_in_any_url_is_redacted(
    before: str, after: str, scheme: str, user: str, password: str
) -> None:
    url = f"{scheme}://{user}:{password}@db.example.com:5432/prod"
    assert (
        redact(f"{before} {url} {after}")
        == f"{before} {scheme}://{user}:[redacted]@db.example.com:5432/prod {after}"
    )


@settings(max_examples=150, deadline=None)
@given(before=WORDS, after=WORDS, token=st.one_of(slack_token(), aws_key()))
def test_slack_and_aws_keys_are_redacted(before: str, after: str, token: str) -> None:
    text = redact(f"{before} {token} {after}")
    assert token not in text and "[redacted]" in text


@settings(max_examples=150, deadline=None)
@given(before=WORDS, after=WORDS, pair=key_value())
def test_password_token_and_secret_values_are_redacted(
    before: str, after: str, pair: tuple[str, str]
) -> None:
    written, value = pair
    assert redact(f"{before} {written} {after}") == f"{before} {written[: -len(value)]}[redacted] {after}"


@settings(max_examples=100, deadline=None)
@given(before=WORDS, token=st.text(alphabet=TOKEN_CHARS + "-._~+/", min_size=12, max_size=60))
def test_bearer_tokens_are_redacted(before: str, token: str) -> None:
    assert redact(f"{before} Authorization: Bearer {token}") == f"{before} Authorization: Bearer [redacted]"


@settings(max_examples=50, deadline=None)
@given(before=WORDS, key=pem_key(), truncated=st.booleans())
def test_pem_private_keys_are_redacted_even_cut_short(
    before: str, key: tuple[str, str], truncated: bool
) -> None:
    pem, body = key
    pem = pem[: len(pem) // 2] if truncated else pem
    text = redact(f"{before}\n{pem}\nafter")
    assert text == f"{before}\n[redacted private key]" + ("" if truncated else "\nafter")
    assert body[:20] not in text


def test_the_broker_and_redis_passwords_are_among_the_settings_secrets() -> None:
    settings_ = Settings(
        celery_broker_url="amqp://rabbit:Br0ker%2Fpass@mq1:5672//;amqp://rabbit:Br0ker%2Fpass@mq2:5672//",
        redis_url="redis://:R3disPassw0rd@redis:6379/0",
    )
    secrets = settings_.secrets()
    assert "Br0ker%2Fpass" in secrets and "Br0ker/pass" in secrets and "R3disPassw0rd" in secrets


def test_a_logged_error_keeps_its_text_but_no_credential(
    configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(Settings(redis_url="redis://:R3disPassw0rd@redis:6379/0"))
    try:
        raise RuntimeError(ISSUE_ERROR + " and the cache said R3disPassw0rd")
    except RuntimeError:
        logging.getLogger("tasks.worker.execution").exception("report %s raised", "leaky")
    logged = stream.getvalue()
    assert (
        "report leaky raised" in logged
        and "RuntimeError: db login failed: postgresql://admin:[redacted]@db.internal" in logged
    )
    for secret in ("Hunter2", "AKIAIOSFODNN7EXAMPLE", "xoxp-1234-abcd", "R3disPassw0rd"):
        assert secret not in logged
