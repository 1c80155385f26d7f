"""SIGKILL between the effect and the response: a retry with the same key replays or runs once.

Attack (the bug report): the key used to be claimed in one statement, the effect committed
in a second transaction and the outcome stored in a third; a process killed in between
left the key "in progress" (409 for every retry, then the request ran again).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from marops_service.settings import ServiceSettings
from marops_testkit.apps import TEST_JWT_SECRET, auth

APPS = Path(__file__).parent / "apps"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The crashing app as a real uvicorn process, restartable."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.port = env, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "crashing_app:create_app", "--app-dir", str(APPS),
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the app exited with {self.proc.returncode} while starting"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the app did not become healthy within 60 s")

    def died(self) -> bool:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=30) == -9
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def service(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Service]:
    env = {**os.environ, "MAROPS_DATABASE_URL": pg_dsn, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "MAROPS_TOPIC_PREFIX": topic_prefix, "MAROPS_TOPIC_PARTITIONS": "1", "MAROPS_JWT_SECRET": TEST_JWT_SECRET,
           "MAROPS_LOG_LEVEL": "WARNING", "CRASH_MARKERS": str(tmp_path)}
    svc = Service(env)
    svc.start()
    yield svc
    svc.stop()


def _post(service: Service, label: str, crash: str | None) -> httpx.Response | None:
    settings = ServiceSettings(jwt_secret=TEST_JWT_SECRET)
    headers = {**auth(settings, "rita", "requester"), "Idempotency-Key": f"key-{label}"}
    if crash:
        headers["x-crash"] = crash
    try:
        return httpx.post(f"{service.url}/things", json={"label": label}, headers=headers, timeout=30)
    except httpx.HTTPError:  # the process died under the request
        return None


async def _count(pg_dsn: str, label: str) -> int:
    conn = await asyncpg.connect(pg_dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM things WHERE label = $1", label)
    finally:
        await conn.close()


@pytest.mark.parametrize("point", ["after-effect", "before-response"])
async def test_a_retry_after_sigkill_between_effect_and_response_never_repeats(service: Service, pg_dsn: str,
                                                                              point: str) -> None:
    label = f"thing-{point}"
    assert _post(service, label, crash=point) is None, "the request should have killed the process"
    assert service.died(), "the process was not SIGKILLed"
    service.start()
    retry = _post(service, label, crash=None)
    assert retry is not None and retry.status_code == 201, retry and retry.text
    if point == "before-response":  # committed with its response: the retry gets that response
        assert retry.headers.get("idempotent-replayed") == "true"
    else:  # killed before the commit: nothing happened, the retry runs for the first time
        assert "idempotent-replayed" not in retry.headers
    assert await _count(pg_dsn, label) == 1
    again = _post(service, label, crash=None)
    assert again is not None and again.json() == retry.json()
    assert await _count(pg_dsn, label) == 1
