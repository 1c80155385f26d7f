"""Real receivers for notification tests: a local SMTP server process (aiosmtpd, storing every
message in a Maildir) and a local HTTP webhook receiver that checks each request's signature
by its own computation of the documented scheme (not the sender's code).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import mailbox
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class SmtpServer:
    host: str
    port: int
    maildir: Path
    process: subprocess.Popen[bytes]

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed as a mail client would (headers unfolded)."""
        box = mailbox.Maildir(self.maildir, create=False)
        return [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
                for key in sorted(box.keys())]


@contextmanager
def smtp_server(directory: Path, *, timeout: float = 20.0) -> Iterator[SmtpServer]:
    """``python -m aiosmtpd`` in its own process on a free port, every message into a Maildir."""
    maildir = directory / "maildir"
    mailbox.Maildir(maildir, create=True)
    port = _free_port()
    log = open(directory / "smtpd.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox",
         str(maildir)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the SMTP server exited ({process.returncode}): "
                                   f"{(directory / 'smtpd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the SMTP server did not listen on {port} within {timeout}s") from None
                time.sleep(0.1)
        yield SmtpServer("127.0.0.1", port, maildir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers ``failures`` requests with 503 first (to exercise retries), then 204."""

    secret: str
    failures: int = 0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/marops"

    def check(self, headers: dict[str, str], body: bytes) -> bool:
        # the documented scheme: v1=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("marops-webhook-timestamp", "")
        expected = "v1=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        return timestamp.isdigit() and hmac.compare_digest(lowered.get("marops-webhook-signature", ""), expected)

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@contextmanager
def webhook_receiver(secret: str, *, failures: int = 0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=secret, failures=failures)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k: v for k, v in self.headers.items()}
            with receiver._lock:
                receiver.received.append(Received(self.path, headers, body, receiver.check(headers, body)))
                fail = len(receiver.received) <= receiver.failures
            self.send_response(503 if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
