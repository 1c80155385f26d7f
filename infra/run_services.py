"""Run the whole system locally: native infrastructure plus the four services.

Used by `make run`; `make demo` (infra/demo.py) reuses its functions. Starts PostgreSQL
and Kafka with infra/up.sh (idempotent), then each installed service as two processes: the
API, `python -m uvicorn --factory marops_<name>.main:create_app --workers N` with
<NAME>_RUN_WORKERS=false (HTTP only), and its worker, `marops-worker <name>` (outbox relay,
consumers, housekeeping). <NAME>_RUN_WORKERS=true (or MAROPS_RUN_WORKERS=true) runs one
process doing both instead, the mode for tiny installs. Waits for each /healthz, streams
the logs prefixed by service name, and on Ctrl-C / SIGTERM stops the services (SIGTERM,
grace period, then SIGKILL). The infrastructure keeps running (`make stop` stops it).

Then the console's gateway (`marops-gateway`, libs/gateway) on GATEWAY_HTTP_PORT (8000):
the built console (console/dist, `make console`) and /api/<service>/ routed to the four
services. With the generated local secret (MAROPS_JWT_SECRET not set) it also serves the
development token endpoint the console's persona sign-in uses (GATEWAY_DEV_TOKENS, which
can also be set explicitly; it is never on by default elsewhere).

Environment: <NAME>_HTTP_PORT (8001..8004), <NAME>_HTTP_WORKERS or MAROPS_HTTP_WORKERS (API
processes per service, 2), <NAME>_RUN_WORKERS, MAROPS_PG_PORT, MAROPS_KAFKA_PORT,
MAROPS_INFRA_DIR, MAROPS_JWT_SECRET (default: a dev secret kept in <infra dir>/jwt-secret),
MAROPS_STARTUP_TIMEOUT (seconds per service, 60). A <NAME>_DATABASE_URL or
MAROPS_KAFKA_BOOTSTRAP_SERVERS already set in the environment is kept.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"intake": 8001, "governance": 8002, "budget": 8003, "metrics": 8004}
STOP_GRACE_SECONDS = 15.0

_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(f"run: {msg}", flush=True)


def infra_dir() -> Path:
    d = Path(os.environ.get("MAROPS_INFRA_DIR", ".infra"))
    return d if d.is_absolute() else REPO_ROOT / d


def jwt_secret() -> str:
    if os.environ.get("MAROPS_JWT_SECRET"):
        return os.environ["MAROPS_JWT_SECRET"]
    path = infra_dir() / "jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def installed(name: str) -> bool:
    """True if marops_<name>.main can be imported (checked without importing it)."""
    spec = importlib.util.find_spec(f"marops_{name}")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(loc) / "main.py").exists() for loc in spec.submodule_search_locations)


def _flag(env: dict[str, str], name: str, field: str, default: str) -> str:
    return env.get(f"{name.upper()}_{field}", env.get(f"MAROPS_{field}", default)).strip().lower()


class Service:
    """One service: its API process and, unless it runs in single-process mode, its worker."""

    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name, self.port = name, port
        self.single_process = _flag(env, name, "RUN_WORKERS", "false") in ("1", "true", "yes")
        http_workers = int(_flag(env, name, "HTTP_WORKERS", "2"))
        api = [
            sys.executable, "-m", "uvicorn", "--factory", f"marops_{name}.main:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ]
        api_env = dict(env)
        if not self.single_process:
            api += ["--workers", str(http_workers)]
            api_env[f"{name.upper()}_RUN_WORKERS"] = "false"
        self.proc = self._spawn(api, api_env, name)
        self.worker: subprocess.Popen[str] | None = None
        if not self.single_process:
            self.worker = self._spawn([sys.executable, "-m", "marops_service.worker", name], env, f"{name}-wrk")

    def _spawn(self, cmd: list[str], env: dict[str, str], label: str) -> subprocess.Popen[str]:
        # its own session: a terminal Ctrl-C reaches only us, and we stop the services in order
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, bufsize=1, text=True, errors="replace",
        )
        pump = threading.Thread(target=self._stream_logs, args=(proc, label), daemon=True)
        pump.start()
        self._pumps = [*getattr(self, "_pumps", []), pump]
        return proc

    @property
    def procs(self) -> list[subprocess.Popen[str]]:
        return [self.proc] + ([self.worker] if self.worker is not None else [])

    def poll(self) -> int | None:
        """None while every process of the service runs, else the exit code of one that ended."""
        for proc in self.procs:
            if proc.poll() is not None:
                return proc.returncode
        return None

    @staticmethod
    def _stream_logs(proc: subprocess.Popen[str], label: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with _print_lock:
                sys.stdout.write(f"{label:<14} | {line}")
                sys.stdout.flush()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def signal(self, sig: int) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))


class Gateway(Service):
    """The console's gateway: one process, routing /api/<service>/ to the services started."""

    def __init__(self, port: int, services: list[Service], env: dict[str, str], dev_tokens: bool) -> None:
        self.name, self.port, self.single_process, self.worker = "gateway", port, True, None
        gw_env = dict(env)
        gw_env["GATEWAY_HTTP_PORT"] = str(port)
        for s in services:
            gw_env[f"GATEWAY_{s.name.upper()}_URL"] = s.url
        gw_env.setdefault("GATEWAY_DEV_TOKENS", "true" if dev_tokens else "false")
        self.proc = self._spawn([sys.executable, "-m", "marops_gateway.main"], gw_env, "gateway")


def stop_all(services: list[Service]) -> None:
    running = [s for s in services if any(p.poll() is None for p in s.procs)]
    if not running:
        return
    say("stopping " + ", ".join(s.name for s in running))
    for s in running:
        s.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for s in running:
        try:
            s.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{s.name} did not stop within {STOP_GRACE_SECONDS:.0f}s; killing it")
            s.signal(signal.SIGKILL)
            for proc in s.procs:
                proc.wait()
    for s in running:
        for pump in s._pumps:
            pump.join(timeout=2)


class Started:
    """The services `start` brought up, those it skipped, and the environment they run with."""

    def __init__(self, services: list[Service], skipped: list[str], env: dict[str, str]) -> None:
        self.services, self.skipped, self.env = services, skipped, env

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


def handle_stop_signals() -> threading.Event:
    """SIGINT / SIGTERM set the returned event (the caller stops the services in order)."""
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop_requested


def start(stop_requested: threading.Event) -> Started | int:
    """Start the infrastructure and every installed service and wait for their /healthz.

    Returns the running services, or an exit code (after stopping whatever it started)."""
    say("starting infrastructure (infra/up.sh)")
    up = subprocess.run(["bash", str(REPO_ROOT / "infra" / "up.sh")], cwd=REPO_ROOT)
    if up.returncode != 0:
        say(f"infrastructure failed to start (infra/up.sh exit {up.returncode}); not starting services")
        return 1
    if stop_requested.is_set():
        return 130

    pg_port = os.environ.get("MAROPS_PG_PORT", "15432")
    kafka_port = os.environ.get("MAROPS_KAFKA_PORT", "19092")
    base_env = dict(os.environ)
    base_env.setdefault("MAROPS_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{kafka_port}")
    local_secret = not os.environ.get("MAROPS_JWT_SECRET")  # the generated one of this machine
    base_env["MAROPS_JWT_SECRET"] = jwt_secret()
    base_env.setdefault("PYTHONUNBUFFERED", "1")

    services: list[Service] = []
    skipped: list[str] = []
    for name, default_port in SERVICES.items():
        if not installed(name):
            say(f"WARNING: marops_{name}.main is not installed (yet); skipping the {name} service")
            skipped.append(name)
            continue
        upper = name.upper()
        port = int(os.environ.get(f"{upper}_HTTP_PORT", default_port))
        if not port_free(port):
            say(f"ERROR: port {port} for {name} is already in use (another `make run`?); set {upper}_HTTP_PORT")
            stop_all(services)
            return 1
        env = dict(base_env)
        env.setdefault(f"{upper}_DATABASE_URL", f"postgresql://marops@127.0.0.1:{pg_port}/{name}")
        say(f"starting {name} on port {port}")
        services.append(Service(name, port, env))

    if not services:
        say("no service is installed yet; nothing to run (did `make install` run?)")
        return 1

    # wait for every /healthz; a child that dies meanwhile fails the start
    timeout = float(os.environ.get("MAROPS_STARTUP_TIMEOUT", "60"))
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending and not stop_requested.is_set():
        for s in list(pending):
            rc = s.poll()
            if rc is not None:
                say(f"ERROR: {s.name} exited with code {rc} during startup (its log is above)")
                stop_all(services)
                return 1
            if s.healthy():
                say(f"{s.name} is up at {s.url}")
                pending.remove(s)
        if pending and time.monotonic() > deadline:
            say(f"ERROR: {', '.join(s.name for s in pending)} not healthy within {timeout:.0f}s")
            stop_all(services)
            return 1
        time.sleep(0.25)
    if stop_requested.is_set():
        stop_all(services)
        return 130
    gateway = start_gateway(services, base_env, local_secret, stop_requested)
    if gateway is None:
        stop_all(services)
        return 1
    return Started([*services, gateway], skipped, base_env)


def start_gateway(services: list[Service], env: dict[str, str], local_secret: bool,
                  stop_requested: threading.Event) -> Gateway | None:
    """Start the console's gateway and wait for its /healthz; None if it cannot start."""
    if importlib.util.find_spec("marops_gateway") is None:
        say("ERROR: marops_gateway is not installed (did `make install` run?)")
        return None
    port = int(os.environ.get("GATEWAY_HTTP_PORT", "8000"))
    if not port_free(port):
        say(f"ERROR: port {port} for the console's gateway is already in use; set GATEWAY_HTTP_PORT")
        return None
    say(f"starting the console's gateway on port {port}")
    gateway = Gateway(port, services, env, local_secret)
    deadline = time.monotonic() + float(os.environ.get("MAROPS_STARTUP_TIMEOUT", "60"))
    while not stop_requested.is_set():
        if gateway.poll() is not None:
            say(f"ERROR: the gateway exited with code {gateway.poll()} during startup (its log is above)")
            return None
        if gateway.healthy():
            say(f"the console is up at {gateway.url}")
            return gateway
        if time.monotonic() > deadline:
            say("ERROR: the gateway did not answer /healthz in time")
            gateway.signal(signal.SIGTERM)
            return None
        time.sleep(0.25)
    gateway.signal(signal.SIGTERM)
    return None


def print_banner(started: Started) -> None:
    """Where the services listen and how to call them."""
    # marops-token reads MAROPS_JWT_SECRET, else .infra/jwt-secret of the current directory
    secret_file = infra_dir() / "jwt-secret"
    secret_hint = ""
    if "MAROPS_JWT_SECRET" not in os.environ and secret_file != REPO_ROOT / ".infra" / "jwt-secret":
        secret_hint = f'MAROPS_JWT_SECRET="$(cat {secret_file})" '
    lines = ["", "marops is running:"]
    gateway = started.service("gateway")
    if gateway is not None:
        lines.append(f"  console    {gateway.url}/   (API routes {gateway.url}/api/<service>/...)")
    for s in started.services:
        if s is gateway:
            continue
        mode = "one process" if s.single_process else "API + marops-worker"
        lines.append(f"  {s.name:<10} {s.url}   (API docs {s.url}/docs; {mode})")
    for name in started.skipped:
        lines.append(f"  {name:<10} not installed yet, skipped")
    lines += [
        "",
        "Mint a bearer token, from the repository root (roles: requester, approver, finance, ops_admin, viewer):",
        f"  {secret_hint}.venv/bin/marops-token --sub alice --role requester --team growth",
        "",
        "Ctrl-C stops the services; `make stop` stops PostgreSQL and Kafka.",
        "",
    ]
    with _print_lock:
        print("\n".join(lines), flush=True)


def supervise(services: list[Service], stop_requested: threading.Event) -> int:
    """Until Ctrl-C / SIGTERM (0) or a service dies (1); then stop them all."""
    rc = 0
    while not stop_requested.wait(0.5):
        dead = [s for s in services if s.poll() is not None]
        if dead:
            for s in dead:
                say(f"ERROR: {s.name} exited with code {s.poll()}; stopping the others")
            rc = 1
            break
    stop_all(services)
    say("all services stopped")
    return rc


def main() -> int:
    stop_requested = handle_stop_signals()
    started = start(stop_requested)
    if isinstance(started, int):
        return started
    print_banner(started)
    return supervise(started.services, stop_requested)


if __name__ == "__main__":
    sys.exit(main())
