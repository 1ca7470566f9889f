"""Credentials by their shape, for tests that search logs and Slack for any secret, not only for
the configured strings.

Written apart from `tasks.logs.redact`, so a test does not trust the code it checks: a Slack or
AWS key, a URL's password, a password=/token=/secret= value, a Bearer token, a private key.
"[redacted]" and Celery's "**" are what hidden ones look like.
"""

from __future__ import annotations

import re

from tests.support import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET

SHAPES = re.compile(
    r"xox[a-z]-[A-Za-z0-9-]{4,}|xapp-[A-Za-z0-9-]{4,}|(AKIA|ASIA)[0-9A-Z]{16}"
    r"|://[^\s/:@'\"]*:(?!\[redacted\]@|\*\*@)[^\s/@'\"]+@"
    r"|(passw(or)?d|token|secret)[\"']?\s*[=:]\s*[\"']?(?!\[redacted\])[A-Za-z0-9+/_.-]{6,}"
    r"|Bearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}|BEGIN [A-Z ]*PRIVATE KEY",
    re.I,
)
CONFIGURED = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)


def secrets_in(text: str) -> list[str]:
    """Every credential-shaped piece of `text`, and the configured secrets it holds."""
    return [m.group(0) for m in SHAPES.finditer(text)] + [s for s in CONFIGURED if s in text]
