"""Is this HTTP request signed by Slack? slack_sdk's SignatureVerifier, fed only well-formed input.

The verifier raises on input an attacker controls (`int("abc")` on the timestamp, a non-ASCII
signature in `hmac.compare_digest`), so malformed headers are refused here before it sees them.
A refusal is a short reason; the caller logs one line, never the body.
"""

from __future__ import annotations

from slack_sdk.signature import Clock, SignatureVerifier

# Unix seconds have 10 digits until the year 2286; a longer "timestamp" is not one.
_MAX_TIMESTAMP_DIGITS = 12
# "v0=" and 64 hex digits; room for a future version's longer prefix.
_MAX_SIGNATURE_LENGTH = 100


class SignatureCheck:
    """Checks `X-Slack-Signature` and `X-Slack-Request-Timestamp` against the raw body."""

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock or Clock())

    def refusal(self, body: str, timestamp: str | None, signature: str | None) -> str | None:
        """None when Slack signed `body` within the last five minutes; else why not, in a few words."""
        if not timestamp or not signature:
            return "no signature headers"
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            return "malformed timestamp"
        if not (signature.isascii() and len(signature) <= _MAX_SIGNATURE_LENGTH):
            return "malformed signature"
        if not self._verifier.is_valid(body, timestamp, signature):
            return "invalid signature or stale timestamp"
        return None
