"""Delivering notifications: e-mail over SMTP, signed webhooks, and the retry schedule.

Written once for every service that tells people or systems something; what to tell whom
(the dispatch rules) and the delivery log stay with the service that knows the facts.

Webhooks are signed like Stripe's and Svix's: the receiver gets the body, a
``Marops-Webhook-Timestamp`` header (Unix seconds) and ``Marops-Webhook-Signature:
v1=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the subscription's secret. It
recomputes the HMAC over the exact bytes it received, compares in constant time, and
refuses timestamps too far from its clock (a replayed old request). ``Marops-Webhook-Id``
is the delivery's id, the same on every retry, so a receiver can drop repeats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

import aiosmtplib
import httpx

SIGNATURE_HEADER = "Marops-Webhook-Signature"
TIMESTAMP_HEADER = "Marops-Webhook-Timestamp"
ID_HEADER = "Marops-Webhook-Id"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

SmtpSecurity = Literal["none", "starttls", "tls"]


class DeliveryFailed(Exception):
    """One attempt did not deliver; ``permanent`` when retrying cannot help (a 4xx answer)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


# --- retries -----------------------------------------------------------------------


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): base, 2·base, 4·base, ... up
    to ``cap``. Deterministic: the schedule of every delivery is the same and testable;
    deliveries of different notifications start at different times, so they do not align."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    return float(min(cap, base * 2 ** min(attempt - 1, 62)))


# --- webhooks ----------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "timestamp.body">``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, delivery_id: str, body: bytes, now: dt.datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {"Content-Type": "application/json", ID_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: dt.datetime, *,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a receiver checks (``headers`` looked up case-insensitively, as HTTP has them)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    # several signatures may be sent while a secret is rotated: any one matching is enough
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(candidate.strip(), expected) for candidate in given.split(","))


async def post_webhook(client: httpx.AsyncClient, url: str, secret: str, delivery_id: str, body: bytes,
                       now: dt.datetime) -> int:
    """POST a signed body; the answer's status if 2xx, else ``DeliveryFailed``.

    A 4xx other than 408/429 is permanent (the receiver refuses it as it is); anything else,
    including no answer at all, is worth another attempt.
    """
    try:
        response = await client.post(url, content=body, headers=signed_headers(secret, delivery_id, body, now))
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
    if 200 <= response.status_code < 300:
        return response.status_code
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:300]}", permanent=permanent)


# --- e-mail ------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 10.0
    ca_file: str | None = None  # a private CA for the relay's certificate


def email_message(config: SmtpConfig, to: str, subject: str, text: str, *, message_key: str) -> EmailMessage:
    """A plain-text message; ``message_key`` (the delivery id) is in its Message-ID, so a
    resent copy can be recognised by the recipient's mail system."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    domain = config.sender.rpartition("@")[2] or "marops.local"
    message["Message-ID"] = make_msgid(idstring=message_key, domain=domain)
    message["X-Marops-Delivery"] = message_key
    message.set_content(text)
    return message


async def send_email(config: SmtpConfig, message: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=config.ca_file) if config.security != "none" else None
    try:
        await aiosmtplib.send(
            message, hostname=config.host, port=config.port, username=config.username, password=config.password,
            use_tls=config.security == "tls", start_tls=config.security == "starttls", tls_context=context,
            timeout=config.timeout_seconds)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"recipient refused: {exc}"[:500], permanent=True) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
