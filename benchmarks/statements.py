"""Statements per command, every service's database counted: a deterministic figure (unlike
the timings of ``http_bench.py``) of the work a command sets off, on the request path and
downstream (the relay, the other services' consumers).

The platform runs split as in ``http_bench.py`` (one API process and one ``marops-worker``
per service, PostgreSQL's statement log switched on for the run's databases only). For each
command, BENCH_STATEMENTS_COUNT (100) of them at 20 req/s: the statements logged from the
first request until the processes are idle again, minus what the idle processes log in as
long (relay and delivery polling), divided by the count.

    .venv/bin/python benchmarks/statements.py

Commands: intake ``POST /campaigns`` and ``POST /campaigns/{id}/submit``, governance ``POST …/decisions`` (the
brief review's approval) and budget ``POST /spend``, as the HTTP bench sends them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_bench as hb  # noqa: E402

COUNT = int(os.environ.get("BENCH_STATEMENTS_COUNT", "100"))
RATE = 20
LOG = hb.INFRA / "postgres" / "postgres.log"
# log_line_prefix '%m [%p] %q%u@%d ': a statement logged by log_statement = all
STATEMENT = re.compile(r"\] \S+@(\S+) LOG:  (?:statement|execute [^:]*): *(.*)")
# BENCH_STATEMENTS_DETAIL=1: also the most frequent statements of each command, per database
DETAIL = os.environ.get("BENCH_STATEMENTS_DETAIL", "") not in ("", "0")


async def _log_statements(databases: list[str], on: bool) -> None:
    admin = await hb.asyncpg.connect(f"{hb.PG}/postgres")
    try:
        for name in databases:
            value = "'all'" if on else "DEFAULT"
            await admin.execute(f'ALTER DATABASE "{name}" SET log_statement = {value}')
    finally:
        await admin.close()


def _statements(since: int) -> list[tuple[str, str]]:
    """(database, the statement's first line) of every statement logged since the offset."""
    with LOG.open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", errors="replace")
    found = []
    for m in STATEMENT.finditer(text):
        first = m.group(2).strip() or text[m.end():m.end() + 400].strip().split("\n", 1)[0]
        found.append((m.group(1), " ".join(first.split())[:100]))
    return found


def _counts(since: int) -> Counter[str]:
    return Counter(db for db, _ in _statements(since))


def measure(what: str, targets: list[dict], ok: set[int], dbs: dict[str, str],
            bodies: list[bytes] | None = None) -> dict[str, float]:
    """``bodies``: collects the responses' bodies."""
    hb.settle()
    # the idle processes' own statements (relay, delivery loop) over as long as the run takes
    start = LOG.stat().st_size
    began = time.monotonic()
    result = hb.attack(targets, RATE, len(targets) / RATE, ok, keep_bodies=bodies is not None)
    if bodies is not None:
        bodies.extend(result.bodies)
    took = time.monotonic() - began
    counted = _counts(start)
    idle_start = LOG.stat().st_size
    time.sleep(min(took, 30))
    idle = _counts(idle_start)
    idle_scale = took / min(took, 30)
    per: dict[str, float] = {}
    for service, db in dbs.items():
        per[service] = max(counted[db] - idle[db] * idle_scale, 0) / max(result.count, 1)
    errors = f", {result.errors} errors {result.codes}" if result.errors else ""
    detail = " + ".join(f"{service} {n:.1f}" for service, n in per.items())
    print(f"  {what:<36} {sum(per.values()):6.1f} statements per command ({detail}; n={result.count}{errors})",
          flush=True)
    if DETAIL:
        names = {db: service for service, db in dbs.items()}
        texts = Counter((names.get(db, db), text) for db, text in _statements(start)[: sum(counted.values())])
        for (service, text), n in texts.most_common(25):
            print(f"      {n / max(result.count, 1):5.2f}  {service:<10} {text}", flush=True)
    return per


def main() -> None:
    run = uuid.uuid4().hex[:8]
    services = {"intake": hb.BASE_PORT, "governance": hb.BASE_PORT + 1, "budget": hb.BASE_PORT + 2}
    dbs = {name: f"bench_{name}_{run}" for name in services}
    admin_dbs = list(dbs.values())

    async def create() -> None:
        admin = await hb.asyncpg.connect(f"{hb.PG}/postgres")
        try:
            for name in admin_dbs:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    asyncio.run(_log_statements(admin_dbs, on=True))  # before any session opens
    base_env = {**os.environ, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": hb.BOOTSTRAP, "MAROPS_TOPIC_PREFIX": f"stm{run}.",
                "MAROPS_JWT_SECRET": hb.SECRET, "MAROPS_LOG_LEVEL": "WARNING", "MAROPS_TOPIC_PARTITIONS": "6"}
    for name, db in dbs.items():
        base_env[f"{name.upper()}_DATABASE_URL"] = f"{hb.PG}/{db}"
    try:
        for name, port in services.items():
            hb.Proc(f"{name}-api", hb.uvicorn(f"marops_{name}.main:create_app", port, 1, factory=True),
                    {**base_env, f"{name.upper()}_RUN_WORKERS": "false"})
            hb.Proc(f"{name}-worker", [sys.executable, "-m", "marops_service.worker", name], base_env)
        for name, port in services.items():
            hb.wait_healthy(f"http://127.0.0.1:{port}/healthz", [p for p in hb.ALL if p.name.startswith(name)])
        time.sleep(5)
        intake, gov, budget = (f"http://127.0.0.1:{p}" for p in services.values())
        rita = hb.mint("rita", ["requester"], "growth")
        alan = hb.mint("alan", ["approver"])
        fiona = hb.mint("fiona", ["finance"])
        line_id = f"bl-stm-{run}"
        req = urllib.request.Request(f"{budget}/budget-lines", method="POST", data=json.dumps({
            "id": line_id, "name": "bench", "fiscal_year": 2026, "quarter": 4, "team": "growth", "channel": "email",
            "amount": {"amount": "100000000.00", "currency": "EUR"}}).encode(),
            headers={"Authorization": f"Bearer {fiona}", "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        print(f"\nstatements per command ({COUNT} commands of each kind at {RATE} req/s; one API process "
              "and one marops-worker per service)", flush=True)
        created: list[bytes] = []
        measure("intake POST /campaigns", [hb.target("POST", f"{intake}/campaigns", rita, hb.brief(line_id))]
                * COUNT, {201}, dbs, bodies=created)
        ids = [json.loads(b)["id"] for b in created if b.startswith(b"{") and b'"id"' in b]
        measure("intake POST /campaigns/{id}/submit",
                [hb.target("POST", f"{intake}/campaigns/{cid}/submit", rita) for cid in ids], {200}, dbs)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and asyncio.run(hb._count(
                f"{hb.PG}/{dbs['governance']}", "SELECT count(DISTINCT campaign_id) FROM brief_versions")) < len(ids):
            time.sleep(0.5)
        measure("governance POST …/decisions",
                [hb.target("POST", f"{gov}/campaigns/{cid}/gates/brief_review/decisions", alan,
                           {"decision": "approve", "brief_version": 1}) for cid in ids], {201}, dbs)
        measure("budget POST /spend",
                [hb.target("POST", f"{budget}/spend", fiona, {
                    "campaign_id": cid, "source_system": "bench", "source_reference": f"ref-{run}-{i}",
                    "amount": {"amount": "1.00", "currency": "EUR"}, "incurred_on": "2026-03-05"})
                 for i, cid in enumerate(ids)], {201}, dbs)
    finally:
        for p in hb.ALL:
            p.stop()

        async def drop() -> None:
            admin = await hb.asyncpg.connect(f"{hb.PG}/postgres")
            try:
                for name in admin_dbs:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop())


if __name__ == "__main__":
    main()
