"""The web console in real headless Chromium against the four services as processes.

The e2e stack (conftest.py) runs the services; this module starts the console's gateway
in front of them the way `make run` does (dev tokens on, with the stack's own secret),
then runs the Playwright suite (console/e2e, Playwright from npm driving Debian's
`chromium`): every persona signs in on the sign-in page and walks the journey through the
UI. Screenshots of every page go to console/artifacts/screenshots (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE = REPO_ROOT / "console"
ARTIFACTS = CONSOLE / "artifacts"
PLAYWRIGHT = CONSOLE / "node_modules" / ".bin" / "playwright"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is missing: run `make chromium` (make test does)"
    return found


@pytest.fixture(scope="module")
def console_url(e2e_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert (CONSOLE / "dist" / "index.html").is_file(), "the console is not built: run `make console` (make test does)"
    port = free_port()
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAROPS_", "GATEWAY_"))}
    env.update({"GATEWAY_HTTP_PORT": str(port), "GATEWAY_DEV_TOKENS": "true", "MAROPS_JWT_SECRET": e2e_stack.settings.jwt_secret.get_secret_value(),
                **{f"GATEWAY_{name.upper()}_URL": e2e_stack.url(name) for name in e2e_stack.services}})
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "marops_gateway.main"], env=env, cwd=REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"the gateway exited with {proc.returncode}:\n{tail(log_path)}"
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, f"the gateway did not answer:\n{tail(log_path)}"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_every_persona_walks_the_journey_through_the_console(console_url: str) -> None:
    assert PLAYWRIGHT.exists(), f"{PLAYWRIGHT} is missing: run `make console` (npm ci of console/)"
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    env = {**os.environ, "CONSOLE_URL": console_url, "CHROMIUM_PATH": chromium(), "CONSOLE_ARTIFACTS": str(ARTIFACTS),
           "NO_COLOR": "1", "FORCE_COLOR": "0", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    run = subprocess.run([str(PLAYWRIGHT), "test"], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    assert "1 passed" in run.stdout, run.stdout
    shots = {p.stem for p in (ARTIFACTS / "screenshots").glob("*.png")}
    for page in ("sign-in", "campaign-draft-completeness-errors", "approvals-queue", "campaign-four-eyes-refusal",
                 "budget", "campaign-launched", "dashboard", "calendar", "policy-validation-error", "operations",
                 "dashboard-390px", "campaign-390px"):
        assert any(s.endswith(page) for s in shots), f"no screenshot of {page}: {sorted(shots)}"
