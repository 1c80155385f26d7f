"""marops_service.notify: the webhook signature scheme and the retry schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from marops_service.notify import backoff_seconds, signature, signed_headers, verify

NOW = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
SECRET = "whsec-0123456789abcdef"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"kind":"gate_actionable"}'
    expected = hmac.new(SECRET.encode(), b"1799053200." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1799053200, body) == f"v1={expected}"


def test_a_receiver_accepts_the_signed_request_and_nothing_altered_or_stale() -> None:
    body = b'{"a":1}'
    headers = signed_headers(SECRET, "d-1", body, NOW)
    assert headers["Marops-Webhook-Id"] == "d-1"
    assert verify(SECRET, {k.lower(): v for k, v in headers.items()}, body, NOW)
    assert not verify(SECRET, headers, b'{"a":2}', NOW)  # another body
    assert not verify("another-secret-value", headers, body, NOW)
    assert not verify(SECRET, headers, body, NOW + dt.timedelta(minutes=6))  # replayed later
    assert verify(SECRET, {**headers, "Marops-Webhook-Signature": "v1=00, " + headers["Marops-Webhook-Signature"]},
                  body, NOW)  # several signatures while a secret rotates
    assert not verify(SECRET, {k: v for k, v in headers.items() if k != "Marops-Webhook-Timestamp"}, body, NOW)


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    assert [backoff_seconds(n, base=30, cap=3600) for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_seconds(10_000, base=30, cap=3600) == 3600
    with pytest.raises(ValueError):
        backoff_seconds(0, base=30, cap=3600)
