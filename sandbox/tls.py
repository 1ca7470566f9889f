"""A throwaway certificate, so the fake Slack can serve its Web API over HTTPS as Slack does.

Slack's Web API is HTTPS only, and slack_sdk's default WebClient opens a new connection, so a new
TLS handshake, for every call. Over plain HTTP the fake hides that cost, which is most of what a
client pays per call in production. Clients trust the certificate through ``SSL_CERT_FILE``,
which Python's default TLS context reads, so slack_sdk and the bot run unchanged::

    cert = make_certificate(tmp_path)
    slack = FakeSlack(tls=cert).start()      # slack.api_url is https://127.0.0.1:…/api/
    env = {"SSL_CERT_FILE": str(cert.cert)}  # for the processes that call it
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and its private key, as PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(directory: Path) -> Certificate:
    """Write a certificate for 127.0.0.1 (P-256, valid two days) into `directory`.

    Made with the `openssl` command, which every Debian-based machine has: Python's standard
    library can use certificates but not make them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "fake-slack.pem", directory / "fake-slack.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Certificate(cert, key)
