"""The web console (console/) builds against the APIs as they are, and its unit tests pass.

The console's API types are generated from the four OpenAPI documents of this checkout
(console/scripts/gen-types.mjs), then `tsc` checks every page against them: a route, field
or response shape the console uses that a service no longer offers fails here. Vitest runs
the console's own unit tests. `make console` (part of `make test`) installs the npm packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[1] / "console"
BIN = CONSOLE / "node_modules" / ".bin"


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert BIN.is_dir(), f"{BIN} is missing: run `make console` (npm ci of console/)"
    env = {**os.environ, "MAROPS_PYTHON": sys.executable, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run(cmd, cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_console_type_checks_against_the_openapi_documents_of_the_four_services() -> None:
    gen = run(["node", "scripts/gen-types.mjs"])
    assert gen.returncode == 0, gen.stdout + gen.stderr
    for service in ("intake", "governance", "budget", "metrics"):
        assert "export interface paths" in (CONSOLE / "src" / "api" / "generated" / f"{service}.ts").read_text()
    tsc = run([str(BIN / "tsc"), "--noEmit", "-p", "."])
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr


def test_the_console_unit_tests_pass() -> None:
    vitest = run([str(BIN / "vitest"), "run"])
    assert vitest.returncode == 0, vitest.stdout + vitest.stderr
    assert " passed" in vitest.stdout and "failed" not in vitest.stdout, vitest.stdout
