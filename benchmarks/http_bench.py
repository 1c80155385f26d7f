"""``make bench``, the request path: open-loop load (vegeta, constant arrival rate, so no
coordinated omission) against the platform's write endpoints, each beside a bare FastAPI
endpoint at the same rate on the same uvicorn and PostgreSQL. Prints figures and targets;
asserts nothing.

The platform runs split, as ``make run`` does: per service one API server with
BENCH_HTTP_WORKERS uvicorn workers (``RUN_WORKERS=false``) and one ``marops-worker``. The
bare peer gets the same number of uvicorn workers.

- p99 at BENCH_HTTP_RATE req/s (500) for intake ``POST /campaigns``, ``POST …/submit``,
  governance ``POST …/decisions`` and budget ``POST /spend``; target <= 2x bare, 0 errors
- saturation of ``POST /campaigns``: the highest rate of BENCH_HTTP_STEPS with p99 < 100 ms
  and 0 errors, beside the bare endpoint's; target >= 3x the single-process figure
  measured before this work (150-250 req/s on the same kind of machine)
- RSS of each service's processes, idle and under load
- CPU per request (the target's processes and PostgreSQL, from /proc): a figure that holds
  on a machine shared with other work, where latencies do not; beside it vegeta's own CPU
  per request (it runs on the same cores, as much for marops as for the bare peer)

Each measurement starts on a settled machine: the previous run's backlog (requests the
server still works through after the load generator gave up on them, outbox rows, consumers)
is waited out until the bench's processes and PostgreSQL are idle, and vegeta opens fresh
connections, so each figure stands alone. The load average is printed beside the figures.

vegeta is installed into <infra dir>/bin by ``go install`` on first use (Go from apt if the
machine has none).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parent.parent
INFRA = Path(os.environ.get("MAROPS_INFRA_DIR", REPO / ".infra"))
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
PG = f"postgresql://marops@127.0.0.1:{os.environ.get('MAROPS_PG_PORT', '15432')}"
BOOTSTRAP = f"127.0.0.1:{os.environ.get('MAROPS_KAFKA_PORT', '19092')}"
RATE = int(os.environ.get("BENCH_HTTP_RATE", "500"))
SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "2"))
STEPS = [int(s) for s in os.environ.get("BENCH_HTTP_STEPS", "250,500,750,1000,1250,1500,2000").split(",")]
BASE_PORT = int(os.environ.get("BENCH_HTTP_PORT", "8151"))
# "create": only POST /campaigns beside its peer (a short run to study its tail), no saturation
ONLY = os.environ.get("BENCH_HTTP_ONLY", "")
SECRET = "bench-only-secret-0123456789abcdef0123456789"
SATURATION_P99_MS = 100.0
SLOW_MS = 50.0


def vegeta() -> str:
    binary = INFRA / "bin" / "vegeta"
    if binary.exists():
        return str(binary)
    if shutil.which("go") is None and Path("/usr/local/go/bin/go").exists():
        os.environ["PATH"] += os.pathsep + "/usr/local/go/bin"
    if shutil.which("go") is None:
        print("bench: installing Go (apt-get install golang-go) to build vegeta", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "golang-go"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    print(f"bench: go install {VEGETA_MODULE}", flush=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "install", VEGETA_MODULE], check=True, env={**os.environ, "GOBIN": str(binary.parent)})
    return str(binary)


# ------------------------------------------------------------------- processes


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.popen = subprocess.Popen(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        ALL.append(self)

    def pids(self) -> list[int]:
        """The process and its children (uvicorn's workers)."""
        return [self.popen.pid, *_children(self.popen.pid)]

    def rss_mib(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def postgres_pids() -> list[int]:
    """The postmaster of the bench's PostgreSQL and its backends (empty if not readable)."""
    try:
        postmaster = int((INFRA / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *_children(postmaster)]


def _children(parent: int) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                out.append(int(pid))
    return out


def cpu_seconds(procs: list[Proc], *, with_postgres: bool = True) -> float:
    pids = [pid for p in procs for pid in p.pids()] + (postgres_pids() if with_postgres else [])
    return sum(_cpu_seconds(pid) for pid in pids)


ALL: list[Proc] = []  # every process of the run: what must be idle before a measurement
SETTLED_CPU = 0.05  # of one core, over a second, above the idle floor
SETTLE_TIMEOUT = 90.0
# What the idle platform itself uses (consumer polls, relays, PostgreSQL's background
# processes: about 5% of a core for the whole platform); measured once the processes are up.
idle_floor = 0.0


def measure_idle_floor(seconds: float = 3.0) -> float:
    before = cpu_seconds(ALL)
    time.sleep(seconds)
    return (cpu_seconds(ALL) - before) / seconds


def settle() -> None:
    """Wait until the previous measurement's backlog is worked off: the bench's processes and
    PostgreSQL together use less than SETTLED_CPU of a core above their idle floor for a
    whole second."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    before, used = cpu_seconds(ALL), 0.0
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(ALL)
        used, before = now - before, now
        if used < idle_floor + SETTLED_CPU:
            return
    print(f"  (not settled within {SETTLE_TIMEOUT:.0f}s: still {used:.2f} CPU-s per second)", flush=True)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def uvicorn(target: str, port: int, workers: int, *, factory: bool, app_dir: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    if factory:
        cmd.append("--factory")
    if app_dir is not None:
        cmd += ["--app-dir", str(app_dir)]
    return cmd


def wait_healthy(url: str, procs: list[Proc], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.popen.poll() is not None:
                raise SystemExit(f"bench: {p.name} exited ({p.popen.returncode}); log {p.log.name}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"bench: {url} not up within {timeout:.0f}s")


# ------------------------------------------------------------------- load


@dataclass
class Result:
    rate: int
    count: int
    errors: int
    p50_ms: float
    p99_ms: float
    bodies: list[bytes]
    codes: dict[int, int]
    cpu_ms: float = float("nan")  # CPU per request: the target's processes and PostgreSQL
    cpu_all_ms: float = float("nan")  # CPU per request of every process of the run and PostgreSQL (downstream too)
    vegeta_cpu_ms: float = float("nan")  # CPU per request of the load generator (on the same cores)
    load: str = ""  # load average when the measurement started
    p999_ms: float = float("nan")
    max_ms: float = float("nan")
    # where the tail sits in time: how many requests took over SLOW_MS, in how many 100 ms
    # windows (by send time) and how long a run of them (a few windows: a pause of the server;
    # long runs: a backlog, the server slower than the arrivals for that long)
    slow: int = 0
    slow_in_worst_windows: str = ""


def attack(targets: list[dict[str, Any]], rate: int, seconds: float, ok: set[int],
           keep_bodies: bool = False, on: list[Proc] | None = None) -> Result:
    """One measurement, on a settled machine; ``on``: the processes whose CPU it costs."""
    settle()
    load = load_average()
    cpu_before = cpu_seconds(on) if on else 0.0
    all_before = cpu_seconds(ALL)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for t in targets:
            f.write(json.dumps(t) + "\n")
        path = f.name
    generator_before = _children_cpu()
    try:
        attack_cmd = [vegeta(), "attack", "-format=json", f"-targets={path}", f"-rate={rate}/s",
                      f"-duration={seconds}s", "-timeout=5s", "-keepalive=true"]
        attack_run = subprocess.Popen(attack_cmd, stdout=subprocess.PIPE)
        encoded = subprocess.run([vegeta(), "encode", "--to", "json"], stdin=attack_run.stdout,
                                 capture_output=True, check=True)
        attack_run.wait()
    finally:
        os.unlink(path)
    generator = _children_cpu() - generator_before
    # what the load generator gave up on is still being served: count its cost too
    settle()
    cpu = cpu_seconds(on) - cpu_before if on else float("nan")
    cpu_all = cpu_seconds(ALL) - all_before if on else float("nan")
    latencies, bodies, codes, errors = [], [], {}, 0
    sent: list[tuple[float, float]] = []  # (seconds since the first request, latency ms)
    for line in encoded.stdout.splitlines():
        r = json.loads(line)
        codes[r["code"]] = codes.get(r["code"], 0) + 1
        if r["code"] not in ok:
            errors += 1
        latencies.append(r["latency"] / 1e6)
        sent.append((_epoch(r["timestamp"]), r["latency"] / 1e6))
        if keep_bodies and r.get("body"):
            bodies.append(base64.b64decode(r["body"]))
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        rank = q * (len(latencies) - 1)
        lo = int(rank)
        hi = min(lo + 1, len(latencies) - 1)
        return latencies[lo] + (latencies[hi] - latencies[lo]) * (rank - lo)

    per = (lambda seconds: seconds * 1000 / len(latencies)) if latencies else (lambda _: float("nan"))
    slow, windows = _tail_in_time(sent, SLOW_MS)
    return Result(rate, len(latencies), errors, pct(0.5), pct(0.99), bodies, codes, per(cpu), per(cpu_all),
                  per(generator), load, pct(0.999), latencies[-1] if latencies else float("nan"), slow, windows)


def _epoch(stamp: str) -> float:
    """vegeta's RFC 3339 timestamp (nanoseconds, a zone offset) as seconds since the epoch."""
    import datetime as dt

    head, _, rest = stamp.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits):] or "+00:00"
    base = dt.datetime.fromisoformat(head + ("Z" if zone == "Z" else zone).replace("Z", "+00:00"))
    return base.timestamp() + (int(digits) / 10 ** len(digits) if digits else 0.0)


def _tail_in_time(sent: list[tuple[float, float]], above_ms: float) -> tuple[int, str]:
    """How many requests took longer than ``above_ms``, in how many 100 ms windows (by send
    time) of the run, the longest run of consecutive such windows, and the worst window."""
    if not sent:
        return 0, ""
    start = min(t for t, _ in sent)
    windows: dict[int, list[float]] = {}
    for t, ms in sent:
        if ms > above_ms:
            windows.setdefault(int((t - start) * 10), []).append(ms)
    slow = sum(len(v) for v in windows.values())
    if not slow:
        return 0, ""
    longest = run = 0
    previous = None
    for w in sorted(windows):
        run = run + 1 if previous is not None and w == previous + 1 else 1
        longest, previous = max(longest, run), w
    total = int((max(t for t, _ in sent) - start) * 10) + 1
    worst, in_worst = max(windows.items(), key=lambda kv: len(kv[1]))
    return slow, (f"{len(windows)} of {total} windows of 100 ms, the longest run {longest / 10:.1f} s; "
                  f"worst t={worst / 10:.1f}s: {len(in_worst)} (max {max(in_worst):.0f} ms)")


def _children_cpu() -> float:
    """CPU seconds of this process's finished children: vegeta's attack and encode runs (the
    bench's servers are only reaped at the end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def target(method: str, url: str, token: str | None, body: Any = None) -> dict[str, Any]:
    t: dict[str, Any] = {"method": method, "url": url, "header": {"Content-Type": ["application/json"]}}
    if token:
        t["header"]["Authorization"] = [f"Bearer {token}"]
    if body is not None:
        t["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return t


def mint(subject: str, roles: list[str], team: str | None = None) -> str:
    from marops_service.auth import mint as _mint
    from marops_service.settings import ServiceSettings

    return _mint(ServiceSettings(jwt_secret=SECRET), subject, roles, team, ttl_seconds=3600)


def brief(line_id: str) -> dict[str, Any]:
    import datetime as dt

    launch = dt.date.today() + dt.timedelta(days=40)
    return {
        "title": "Bench webinar", "objective": "Leads", "target_audience": "Data leads", "channels": ["email"],
        "target_launch_date": launch.isoformat(), "flight_start": launch.isoformat(),
        "flight_end": (launch + dt.timedelta(days=30)).isoformat(),
        "kpis": [{"metric": "qualified_leads", "target": "100", "unit": "leads", "timeframe": "90 days"}],
        "tracking_plan": {"campaign_code": "bench", "utm_convention": "utm_campaign=bench",
                          "conversion_events": ["signup"], "reporting_destination": "Looker"},
        "budget_request": {"amount": {"amount": "10.00", "currency": "EUR"}, "budget_line_id": line_id},
        "raci": {"responsible": ["rita"], "consulted": [], "informed": []},
    }


class RssSampler(threading.Thread):
    def __init__(self, procs: list[Proc]) -> None:
        super().__init__(daemon=True)
        self.procs, self.peak, self.done = procs, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.peak = max(self.peak, sum(p.rss_mib() for p in self.procs))


# ------------------------------------------------------------------- the run


async def _databases(names: list[str], create: bool) -> None:
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        for name in names:
            if create:
                await admin.execute(f'CREATE DATABASE "{name}"')
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    if create:
        conn = await asyncpg.connect(f"{PG}/{names[-1]}")
        await conn.execute("CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, amount numeric)")
        await conn.close()


def line(name: str, r: Result, peer: Result | None = None, target_text: str = "") -> None:
    ratio = f"{r.p99_ms / peer.p99_ms:5.1f}x bare" if peer and peer.p99_ms > 0 else ""
    cpu_ratio = f" ({r.cpu_ms / peer.cpu_ms:.1f}x bare)" if peer and peer.cpu_ms > 0 else ""
    print(f"  {name:<34} {r.rate:>5}/s n={r.count:<6} err={r.errors:<5} p50={r.p50_ms:7.1f} ms "
          f"p99={r.p99_ms:7.1f} ms {ratio} {target_text}", flush=True)
    print(f"  {'':<34} CPU {r.cpu_ms:.2f} ms/request{cpu_ratio}, {r.cpu_all_ms:.2f} with everything it set off "
          f"downstream (vegeta {r.vegeta_cpu_ms:.2f}), load average {r.load} at the start", flush=True)
    if r.errors:
        print(f"  {'':<34} status codes: {r.codes}", flush=True)
    print(f"  {'':<34} p99.9 {r.p999_ms:.1f} ms, max {r.max_ms:.1f} ms; {r.slow} above {SLOW_MS:.0f} ms"
          f"{', in ' + r.slow_in_worst_windows if r.slow else ''}", flush=True)


def saturation(make_targets: Any, ok: set[int], on: list[Proc]) -> tuple[int, list[Result]]:
    best, results = 0, []
    for rate in STEPS:
        r = attack(make_targets(rate), rate, 5, ok, on=on)
        results.append(r)
        if r.errors or r.p99_ms >= SATURATION_P99_MS:
            break
        best = rate
    return best, results


def main() -> None:
    run = uuid.uuid4().hex[:8]
    services = {"intake": BASE_PORT, "governance": BASE_PORT + 1, "budget": BASE_PORT + 2}
    bare_port = BASE_PORT + 4
    dbs = {name: f"bench_{name}_{run}" for name in services}
    bare_db = f"bench_bare_{run}"
    asyncio.run(_databases([*dbs.values(), bare_db], create=True))
    base_env = {**os.environ, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP, "MAROPS_TOPIC_PREFIX": f"bench{run}.",
                "MAROPS_JWT_SECRET": SECRET, "MAROPS_LOG_LEVEL": "WARNING", "MAROPS_TOPIC_PARTITIONS": "6"}
    for name, db in dbs.items():
        base_env[f"{name.upper()}_DATABASE_URL"] = f"{PG}/{db}"
    procs: dict[str, list[Proc]] = {}
    try:
        procs["bare"] = [Proc("bare", uvicorn("bare_app:app", bare_port, WORKERS, factory=False,
                                              app_dir=REPO / "benchmarks"),
                              {**base_env, "BARE_DATABASE_URL": f"{PG}/{bare_db}"})]
        for name, port in services.items():
            procs[name] = [
                Proc(f"{name}-api", uvicorn(f"marops_{name}.main:create_app", port, WORKERS, factory=True),
                     {**base_env, f"{name.upper()}_RUN_WORKERS": "false"}),
                Proc(f"{name}-worker", [sys.executable, "-m", "marops_service.worker", name], base_env),
            ]
        wait_healthy(f"http://127.0.0.1:{bare_port}/docs", procs["bare"])
        for name, port in services.items():
            wait_healthy(f"http://127.0.0.1:{port}/healthz", procs[name])
        time.sleep(5)  # let the workers join their consumer groups and go idle
        idle = {name: sum(p.rss_mib() for p in ps) for name, ps in procs.items()}
        global idle_floor
        idle_floor = measure_idle_floor()

        intake, gov, budget = (f"http://127.0.0.1:{p}" for p in services.values())
        bare = f"http://127.0.0.1:{bare_port}/items"
        rita = mint("rita", ["requester"], "growth")
        alan = mint("alan", ["approver"])
        fiona = mint("fiona", ["finance"])
        n = RATE * SECONDS

        def bare_targets(count: int) -> list[dict[str, Any]]:
            return [target("POST", bare, None, {"name": f"item-{i}", "amount": "10.25"}) for i in range(count)]

        line_id = f"bl-bench-{run}"
        req = urllib.request.Request(f"{budget}/budget-lines", method="POST", data=json.dumps({
            "id": line_id, "name": "bench", "fiscal_year": 2026, "quarter": 4, "team": "growth", "channel": "email",
            "amount": {"amount": "100000000.00", "currency": "EUR"}}).encode(),
            headers={"Authorization": f"Bearer {fiona}", "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

        def create_targets(_count: int) -> list[dict[str, Any]]:
            return [target("POST", f"{intake}/campaigns", rita, brief(line_id))]

        print(f"\nHTTP request path: vegeta open loop, {SECONDS}s per measurement, {WORKERS} uvicorn workers per "
              f"API and for the bare peer, {os.cpu_count()} cores (shared with whatever else runs), load average "
              f"{load_average()}; each measurement starts once the bench's processes and PostgreSQL are idle "
              f"(their idle floor: {idle_floor:.3f} CPU-s/s)",
              flush=True)
        attack(bare_targets(200), 100, 2, {201})  # warm-up of every process
        attack(create_targets(1), 100, 2, {201})

        results: list[tuple[str, Result, Result]] = []
        peer = attack(bare_targets(n), RATE, SECONDS, {201}, on=procs["bare"])
        sampler = RssSampler(procs["intake"])
        sampler.start()
        created = attack(create_targets(1), RATE, SECONDS, {201}, keep_bodies=True, on=procs["intake"])
        sampler.done.set()
        loaded = {"intake": sampler.peak}
        results.append(("intake POST /campaigns", created, peer))
        if ONLY == "create":
            line("bare POST /items (peer)", peer)
            line("intake POST /campaigns", created, peer)
            return
        ids = [json.loads(b)["id"] for b in created.bodies if b.startswith(b"{") and b'"id"' in b]

        peer = attack(bare_targets(n), RATE, SECONDS, {201}, on=procs["bare"])
        submitted = attack([target("POST", f"{intake}/campaigns/{cid}/submit", rita) for cid in ids],
                           RATE, SECONDS, {200}, on=procs["intake"])
        results.append(("intake POST /campaigns/{id}/submit", submitted, peer))

        # governance opens the first gate of each submitted campaign from BriefSubmitted
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            count = asyncio.run(_count(f"{PG}/{dbs['governance']}", "SELECT count(DISTINCT campaign_id) FROM brief_versions"))
            if count >= len(ids):
                break
            time.sleep(1)
        peer = attack(bare_targets(n), RATE, SECONDS, {201}, on=procs["bare"])
        sampler = RssSampler(procs["governance"])
        sampler.start()
        decided = attack([target("POST", f"{gov}/campaigns/{cid}/gates/brief_review/decisions", alan,
                                 {"decision": "approve", "brief_version": 1}) for cid in ids], RATE, SECONDS, {201},
                         on=procs["governance"])
        sampler.done.set()
        loaded["governance"] = sampler.peak
        results.append(("governance POST …/decisions", decided, peer))

        peer = attack(bare_targets(n), RATE, SECONDS, {201}, on=procs["bare"])
        sampler = RssSampler(procs["budget"])
        sampler.start()
        spent = attack([target("POST", f"{budget}/spend", fiona, {
            "campaign_id": ids[i % len(ids)] if ids else "none", "source_system": "bench",
            "source_reference": f"ref-{run}-{i}", "amount": {"amount": "1.00", "currency": "EUR"},
            "incurred_on": "2026-03-05"}) for i in range(n)], RATE, SECONDS, {201}, on=procs["budget"])
        sampler.done.set()
        loaded["budget"] = sampler.peak
        results.append(("budget POST /spend", spent, peer))

        print(f"\np99 at {RATE} req/s beside the bare endpoint measured just before (target: <= 2.0x bare, "
              "0 errors)", flush=True)
        for name, r, p in results:
            line("bare POST /items (peer)", p)
            line(name, r, p, "ok" if r.errors == 0 and r.p99_ms <= 2 * p.p99_ms else "MISSED")

        print(f"\nsaturation: highest rate with p99 < {SATURATION_P99_MS:.0f} ms and 0 errors, 5 s per step",
              flush=True)
        bare_best, bare_steps = saturation(bare_targets, {201}, procs["bare"])
        for r in bare_steps:
            line("bare POST /items", r)
        intake_best, intake_steps = saturation(create_targets, {201}, procs["intake"])
        for r in intake_steps:
            line("intake POST /campaigns", r)
        print(f"  bare: {bare_best}/s; intake POST /campaigns: {intake_best}/s with {WORKERS} API workers + 1 "
              f"marops-worker (target >= 3x the 150-250/s of one process before: >= 450-750/s)", flush=True)

        print("\nRSS per service (MiB, API processes + worker)", flush=True)
        for name in [*services, "bare"]:
            under = f"{loaded[name]:7.0f} under load" if name in loaded else ""
            print(f"  {name:<12} idle {idle[name]:7.0f}  {under}", flush=True)
    finally:
        for ps in procs.values():
            for p in ps:
                p.stop()
        asyncio.run(_databases([*dbs.values(), bare_db], create=False))


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
