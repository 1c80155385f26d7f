"""The whole system as real processes, for the end-to-end suite.

`e2e_stack` (module scope) starts the four services the way `make run` does
(`python -m uvicorn --factory marops_<name>.main:create_app`, see infra/run_services.py),
each with a fresh database of its own, all four on one unique topic prefix on the test
broker, a test JWT secret and a fast outbox relay. Each service's output goes to a log file
under the test's temporary directory; when a test fails, the tail of every log is attached
to its report. At the end the services get SIGTERM (graceful shutdown), their databases are
dropped WITH (FORCE) and the prefix's topics deleted.

Only the session fixture `infra` of marops_testkit is used: the function-scoped
`make_pg_dsn` / `topic_prefix` cannot outlive one test.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from marops_service.auth import mint
from marops_service.settings import ServiceSettings
from marops_testkit import Infra, create_database, delete_topics_with_prefix, drop_databases, run_sync

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("intake", "governance", "budget", "metrics")
JWT_SECRET = "e2e-test-only-secret-" + "0123456789abcdef" * 2
STARTUP_TIMEOUT = 90.0  # seconds for all four to answer /readyz (a busy 2-core CI machine)
STOP_TIMEOUT = 30.0  # the chassis gives its workers 20 s to finish their batch


def free_port() -> int:
    """A port nothing listens on, below Linux's ephemeral range (32768+), so the many outgoing
    connections to Kafka and PostgreSQL cannot take it before the service binds it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32768)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port found between 20000 and 32767")


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a service log, without the access log (which drowns the rest)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join([line for line in text.splitlines() if '"uvicorn.access"' not in line][-lines:])


@dataclass
class ServiceProcess:
    name: str
    port: int
    database: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    log_offset: int = 0  # where this start's output begins in the log (a restart appends)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", f"marops_{self.name}.main:create_app",
               "--host", "127.0.0.1", "--port", str(self.port)]
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # its own session, as under `make run`: signals reach the service only when we send them
            self.proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def lost_port_race(self) -> bool:
        """It exited because another process took its port first (uvicorn: Errno 98)."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            return b"address already in use" in log.read()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """Exit code after SIGTERM, or None if it had to be killed."""
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
            return self.exit_code
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Stack:
    """The four running services and how to reach and authenticate against them."""

    infra: Infra
    topic_prefix: str
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    settings: ServiceSettings = field(default_factory=lambda: ServiceSettings(jwt_secret=JWT_SECRET))
    stopped: dict[str, int | None] | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return self.infra.kafka_bootstrap

    def url(self, name: str) -> str:
        return self.services[name].url

    def topic(self, name: str) -> str:
        """`marops.<kebab-type>.v1` behind this stack's prefix."""
        return f"{self.topic_prefix}{name}"

    def auth(self, subject: str, *roles: str, team: str | None = None,
             source_systems: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.settings, subject, list(roles), team, source_systems=source_systems)}"}

    def log_tails(self, lines: int = 30) -> str:
        return "\n\n".join(f"--- {name} ({s.log_path}) ---\n{tail(s.log_path, lines)}"
                           for name, s in self.services.items())

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to every service, then wait: {name: exit code, None if it had to be killed}."""
        if self.stopped is None:
            running = list(self.services.values())
            for s in running:
                s.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            self.stopped = {s.name: s.wait(max(0.1, deadline - time.monotonic())) for s in running}
        return self.stopped


#: the stack of the running module, for the failure report hook below
_CURRENT: list[Stack] = []


def service_env(stack: Stack, s: ServiceProcess) -> dict[str, str]:
    """The environment `make run` would give the service, pointed at this stack's resources.

    Inherited MAROPS_* / <SERVICE>_* variables are dropped so a developer's shell cannot
    point a service elsewhere.
    """
    prefixes = ("MAROPS_", *(f"{n.upper()}_" for n in SERVICE_NAMES))
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    upper = s.name.upper()
    env.update({
        f"{upper}_DATABASE_URL": stack.infra.dsn(s.database),
        f"{upper}_HTTP_PORT": str(s.port),
        "MAROPS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MAROPS_TOPIC_PREFIX": stack.topic_prefix,
        "MAROPS_TOPIC_PARTITIONS": "3",
        "MAROPS_JWT_SECRET": JWT_SECRET,
        "MAROPS_OUTBOX_POLL_INTERVAL": "0.1",
        "MAROPS_LOG_LEVEL": "INFO",
        "MAROPS_OTEL_EXPORTER": "none",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _start_all(stack: Stack) -> None:
    """Start the four services and wait until each answers /readyz."""
    for s in stack.services.values():
        s.start(service_env(stack, s))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    pending = dict(stack.services)
    retries = 3
    while pending:
        for name, s in list(pending.items()):
            assert s.proc is not None
            if s.proc.poll() is not None:
                if s.lost_port_race() and retries > 0:  # between choosing the port and binding it
                    retries -= 1
                    s.port = free_port()
                    s.start(service_env(stack, s))
                    continue
                raise AssertionError(f"{name} exited with code {s.proc.returncode} during startup\n"
                                     f"{stack.log_tails(60)}")
            if s.ready():
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"not ready within {STARTUP_TIMEOUT:.0f}s: {sorted(pending)}\n"
                                 f"{stack.log_tails(60)}")
        if pending:
            time.sleep(0.2)


@pytest.fixture(scope="module")
def e2e_stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The four services as real processes on fresh databases and a fresh topic prefix."""
    # the testkit's prefix shape ("t" + 10 hex + "."): an interrupted run's topics get swept
    prefix = f"t{uuid.uuid4().hex[:10]}."
    run_id = uuid.uuid4().hex[:12]
    stack = Stack(infra=infra, topic_prefix=prefix, log_dir=tmp_path_factory.mktemp("e2e-logs"))
    for name in SERVICE_NAMES:
        stack.services[name] = ServiceProcess(name=name, port=free_port(), database=f"t_{run_id}_e2e_{name}",
                                              log_path=stack.log_dir / f"{name}.log")
    databases = [s.database for s in stack.services.values()]
    for name in databases:
        run_sync(create_database(infra.pg_admin_dsn, name))
    _CURRENT.append(stack)
    try:
        _start_all(stack)
        yield stack
    finally:
        _CURRENT.remove(stack)
        stack.stop()
        run_sync(drop_databases(infra.pg_admin_dsn, databases))
        try:
            run_sync(delete_topics_with_prefix(infra.kafka_bootstrap, prefix))
        except Exception as exc:  # clean-up only
            warnings.warn(f"could not delete the e2e topics {prefix}*: {exc!r}", stacklevel=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _CURRENT:
        report.sections.append(("service logs (tails)", _CURRENT[-1].log_tails()))
