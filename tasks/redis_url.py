"""REDIS_URL's Sentinel form: `redis+sentinel://[:password@]host:port[,host:port…]/service[/db]`.

A Sentinel-managed Redis is named by its Sentinels and the service (master group) they watch,
not by one address: after a failover the primary is somewhere else, and every process must ask
the Sentinels again rather than keep a stale address. One URL in one setting keeps the bot, the
workers and beat configured alike. Parsed here, beside `tasks.store` (which builds the client
with redis-py's `Sentinel(...).master_for(...)`), and by `tasks.settings` to refuse a malformed
URL at start with a message that names the expected form and never echoes the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

SCHEME = "redis+sentinel"
#: What a refusal shows: the form expected, never the URL given (it may hold a password).
FORM = "redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]"

_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_SERVICE = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class SentinelUrlError(ValueError):
    """A Sentinel URL that does not match FORM; the message says which part, never the password."""


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL: where the Sentinels listen, which service, the password and db.

    The password is the data nodes' password (`requirepass`/`masterauth`); it is also given to
    the Sentinels, as a Sentinel protected by `requirepass` shares it in the usual deployments.
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = field(default=None, repr=False)
    username: str | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether `url` asks for Sentinel (the scheme alone decides; case does not matter)."""
    return url.strip().lower().startswith(SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """`url` parsed; SentinelUrlError naming the part that is wrong and the form expected."""
    text = url.strip()
    if not is_sentinel_url(text):
        raise SentinelUrlError(f"REDIS_URL must start with {SCHEME}:// to name Sentinels; expected {FORM}")
    rest = text[len(SCHEME) + 3 :]
    if "?" in rest or "#" in rest:
        raise SentinelUrlError(f"REDIS_URL takes no query or fragment in its Sentinel form; expected {FORM}")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        if not colon:
            raise SentinelUrlError(
                f"REDIS_URL's credentials must be ':password@' or 'user:password@'; expected {FORM}"
            )
        username = unquote(user) or None
        password = unquote(secret) or None
    sentinels = []
    for part in hosts.split(","):
        match = _HOST.fullmatch(part.strip())
        if not match or not 0 < int(match.group(2)) < 65536:
            raise SentinelUrlError(
                f"REDIS_URL must list each Sentinel as host:port, separated by commas; expected {FORM}"
            )
        sentinels.append((match.group(1).strip("[]"), int(match.group(2))))
    segments = path.split("/") if slash else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if not segments or not _SERVICE.fullmatch(segments[0]):
        raise SentinelUrlError(f"REDIS_URL must name the Sentinel service after the hosts; expected {FORM}")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit() or int(segments[1]) > 15:
            raise SentinelUrlError(f"REDIS_URL's database must be a number from 0 to 15; expected {FORM}")
        db = int(segments[1])
    elif len(segments) > 2:
        raise SentinelUrlError(f"REDIS_URL has too many path parts; expected {FORM}")
    return SentinelUrl(tuple(sentinels), segments[0], db, password, username)


def sentinel_password(url: str) -> str | None:
    """The password of a Sentinel URL as written (percent-encoded), for redaction; None if none.

    `urllib.parse.urlsplit` reads it too, but a URL malformed elsewhere must still have its
    password hidden, so this looks only at the part before the last '@'."""
    if not is_sentinel_url(url):
        return None
    netloc = url.strip()[len(SCHEME) + 3 :].split("/", 1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None
