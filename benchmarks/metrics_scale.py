"""``make bench`` (metrics part): the read model at scale, each figure beside its peer and
its target, all measured in one run on the native infrastructure. Asserts nothing.

BENCH_SCALE=small (default, CI-sized) or full: a 20,000-campaign history (~240,000 records;
the rebuild's rate is also stated for 1,000,000) and queries on a read model of 100,000
campaigns and 1,000,000 spends, seeded in SQL (the rows the projection would derive; the
queries do not care how they got there). The history is generated here: a realistic mix of every event type,
rework on a fifth of the campaigns, 2% redelivered records, 1% of spends recorded twice
under another event id, delivered out of order across topics.

- bare peer: a plain aiokafka consumer reading the same topics from the beginning and
  json-decoding each value (no validation, no database);
- live projection: the metrics consumer (decode, inbox, set-based projection, derived
  rows) over a pre-filled copy of the head of the history, as deployed: a
  ``marops-worker metrics`` process, timed from its first applied batch;
- rebuild: ``python -m marops_metrics.rebuild`` over the whole history, its peak RSS
  sampled from /proc;
- queries: p95 of the functions behind ``/summary``, grouped aggregates and the first page
  of ``/campaigns`` on the rebuilt read model, beside a trivial ``SELECT 1``: computed (as
  the first request after a write finds them) and remembered (the same revision again);
- lag: events offered at 1,000/s while the live consumer runs, published -> visible in
  the summary, p50 and p99, by a producer configured as the platform's own (its relays
  linger 5 ms), with the CPU each kind of process used meanwhile: on 2 cores the offer,
  the broker, PostgreSQL and the consumer share them, and the lag is mostly waiting for one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_metrics import derive, readside
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.readside import Scope
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db

SCALE = os.environ.get("BENCH_SCALE", "small")
# campaigns in the generated history, spends per campaign, records for the live run, seconds
# of offered load for the lag, and the read model the queries run on (campaigns, spends each)
CAMPAIGNS, SPENDS_PER_CAMPAIGN, LIVE_EVENTS, LAG_SECONDS, QUERY_SIZE = {
    "small": (1_000, 5, 20_000, 5, None),
    "full": (20_000, 10, 100_000, 20, (100_000, 10)),
}[SCALE]
PG = f"postgresql://marops@127.0.0.1:{os.environ.get('MAROPS_PG_PORT', '15432')}"
BOOTSTRAP = f"127.0.0.1:{os.environ.get('MAROPS_KAFKA_PORT', '19092')}"
PARTITIONS = 3
TEAMS = ["brand", "growth", "product", "field", "lifecycle"]
CHANNELS = [ch.value for ch in c.Channel]
BASE = datetime(2025, 1, 1, tzinfo=UTC)


# --- the history ---------------------------------------------------------------------


Record = tuple[str, str, bytes, str]  # (event type, partition key, value, event id)

SPEND_JSON = ('{{"specversion":"1.0","id":"{id}","source":"marops/bench","type":"SpendRecorded",'
              '"time":"{time}","subject":"{cid}","datacontenttype":"application/json","correlationid":"{cid}",'
              '"data":{{"campaign_id":"{cid}","source_system":"ads","source_reference":"{ref}",'
              '"amount":{{"amount":"{amount}","currency":"{currency}"}},"incurred_on":"{incurred}"}}}}')


def _record(e: Envelope) -> Record:
    return e.type, registry.partition_key(e), e.to_json(), str(e.id)


def _spend(cid: str, ref: str, amount: Decimal, currency: str, incurred: object, at: datetime) -> Record:
    """Spends are most of the history: written from a template (validated like any other
    record when consumed), as an ad platform would publish them."""
    event_id = str(uuid.uuid4())
    value = SPEND_JSON.format(id=event_id, time=at.strftime("%Y-%m-%dT%H:%M:%SZ"), cid=cid, ref=ref,
                              amount=amount, currency=currency, incurred=incurred)
    return "SpendRecorded", cid, value.encode(), event_id


def campaign_events(i: int, rng: random.Random) -> list[Record]:
    cid = f"B{i:06d}"
    team = TEAMS[i % len(TEAMS)]
    channels = rng.sample(CHANNELS, rng.randint(1, 2))
    start = BASE + timedelta(days=rng.randint(0, 700), hours=rng.randint(0, 23))
    target = (start + timedelta(days=rng.randint(20, 80))).date()
    money = c.Money(amount=Decimal(rng.randint(1, 400) * 250), currency="EUR" if i % 7 else "USD")
    line = f"L-{team}-{i % 3}"
    out: list[Record] = []

    def add(data: object, at: datetime) -> None:
        out.append(_record(registry.new_event(data, source="marops/bench", time=at)))

    versions = 2 if i % 5 == 0 else 1
    now = start
    for v in range(1, versions + 1):
        add(c.BriefSubmitted(
            campaign_id=cid, version=v, title=f"Campaign {cid}", team=team, owner=f"owner-{i % 900}",
            requester=f"req-{i % 1300}", objective="grow", channels=channels, target_launch_date=target,
            flight_start=target, flight_end=target + timedelta(days=30),
            budget_request=c.BudgetRequest(amount=money, budget_line_id=line)), now)
        add(c.BudgetReserved(campaign_id=cid, brief_version=v, budget_line_id=line, amount=money),
            now + timedelta(minutes=1))
        actionable = now
        for position, gate in enumerate(("brief-review", "budget"), start=1):
            now += timedelta(hours=rng.randint(1, 120))
            decision = dict(campaign_id=cid, brief_version=v, policy_version=1, gate_id=gate, gate_name=gate.title(),
                            gate_kind=c.GateKind.budget if gate == "budget" else c.GateKind.review,
                            gate_position=position, is_last_gate=position == 2, actionable_at=actionable,
                            sla_hours=48, decided_by="approver")
            if v < versions and position == 2:
                add(c.GateRejected(**decision, kind=c.RejectionKind.changes_requested, reason="rework"), now)
                break
            add(c.GateApproved(**decision, approvers=["approver"]), now)
            actionable = now
    add(c.BudgetCommitted(campaign_id=cid, brief_version=versions, budget_line_id=line, amount=money), now)
    if i % 10 == 9:
        add(c.CampaignCancelled(campaign_id=cid, cancelled_by=f"owner-{i % 900}"), now + timedelta(days=2))
        return out
    launched = now + timedelta(days=rng.randint(1, 30))
    add(c.CampaignLaunched(campaign_id=cid, brief_version=versions, launched_by=f"owner-{i % 900}",
                           readiness=c.ReadinessSnapshot(all_gates_approved=True, kpis_with_targets=i % 4 > 0,
                                                         tracking_plan_defined=i % 6 > 0, budget_committed=True,
                                                         policy_version=1)), launched)
    for n in range(SPENDS_PER_CAMPAIGN):
        incurred = (launched + timedelta(days=n * 3)).date()
        amount = Decimal(rng.randint(100, 99_999)) / 100
        at = launched + timedelta(days=n * 3, hours=1)
        out.append(_spend(cid, f"{cid}-{n}", amount, money.currency, incurred, at))
        if rng.random() < 0.01:  # the same business fact again under another event id
            out.append(_spend(cid, f"{cid}-{n}", amount, money.currency, incurred, at + timedelta(hours=4)))
    if i % 3 == 0:
        add(c.CampaignCompleted(campaign_id=cid, completed_by=f"owner-{i % 900}"), launched + timedelta(days=60))
    return out


def history(seed: int = 7) -> Iterator[Record]:
    """Campaigns in windows of 50, each window's events shuffled (out of order across
    topics), 2% of the records sent twice."""
    rng = random.Random(seed)
    for w in range(0, CAMPAIGNS, 50):
        window = [e for i in range(w, min(w + 50, CAMPAIGNS)) for e in campaign_events(i, rng)]
        rng.shuffle(window)
        for e in window:
            yield e
            if rng.random() < 0.02:
                yield e


async def publish(prefixes: list[str], records: Iterator[Record], limits: list[int | None]) -> list[tuple[int, int]]:
    """Each record to every prefix's topics (up to that prefix's limit); per prefix, the
    records sent and how many distinct events they hold."""
    producer = kafka.producer(BOOTSTRAP, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    sent = [0] * len(prefixes)
    ids: list[set[str]] = [set() for _ in prefixes]
    topics = {t: {p: registry.spec_for(t).topic(p) for p in prefixes} for t in registry.EVENTS}
    try:
        pending = []
        for event_type, key, value, event_id in records:
            for n, prefix in enumerate(prefixes):
                if limits[n] is not None and sent[n] >= limits[n]:
                    continue
                pending.append(await producer.send(topics[event_type][prefix], value=value, key=key.encode()))
                sent[n] += 1
                ids[n].add(event_id)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return [(sent[n], len(ids[n])) for n in range(len(prefixes))]


# --- measurements --------------------------------------------------------------------


async def bare_consume(prefix: str, total: int) -> float:
    """The peer: read every record of the topics and json-decode it; records/s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in registry.topics(prefix) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for r in records:
                    json.loads(r.value)
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def database(name: str) -> str:
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = f"{PG}/{name}"
    await db.apply_migrations(dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)])
    return dsn


async def drop(name: str) -> None:
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by every process on the machine, summed by command name."""
    used: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_shares(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """What each kind of process used between two ``cpu_seconds``, as % of one core."""
    kinds = {"the metrics worker": ("marops-worker",), "this bench (offer, watch)": ("python",),
             "PostgreSQL": ("postgres",), "Kafka": ("java",)}
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    parts = [f"{kind} {sum(v for k, v in delta.items() if k in names) / seconds:.0%}"
             for kind, names in kinds.items()]
    return f"{', '.join(parts)}; all {sum(delta.values()) / seconds:.0%} of {os.cpu_count()} cores x 100%"


class Live:
    """The metrics consumer as deployed: a ``marops-worker metrics`` process (its consumer,
    relay and housekeeping) on its own database and group, the bench only publishing and
    reading (offer and watch would otherwise share its event loop, as no deployment does)."""

    def __init__(self, dsn: str, prefix: str) -> None:
        self.dsn, self.prefix = dsn, prefix

    async def __aenter__(self) -> Live:
        self.pool = await db.create_pool(self.dsn, max_size=4)
        env = {**os.environ, "METRICS_DATABASE_URL": self.dsn, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
               "MAROPS_TOPIC_PREFIX": self.prefix, "MAROPS_LOG_LEVEL": "WARNING", "MAROPS_LOG_JSON": "false",
               "MAROPS_JWT_SECRET": os.environ.get("MAROPS_JWT_SECRET") or uuid.uuid4().hex}
        self.proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "marops-worker"), "metrics"],
                                     env=env)
        return self

    async def until(self, done, what: str, timeout: float, every: float = 0.01) -> None:  # noqa: ANN001
        """Wait for ``done()`` (sync or async); a worker that died or a wait past ``timeout``
        ends the bench with the reason instead of hanging it."""
        deadline = time.perf_counter() + timeout
        while True:
            value = done()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the metrics worker exited ({self.proc.returncode}) while waiting for {what}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            await asyncio.sleep(every)

    async def applied(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM inbox")

    async def __aexit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        await self.pool.close()


SEED_SQL = """
INSERT INTO readmodel.campaigns
SELECT 'S' || lpad(i::text, 7, '0'), 'Campaign ' || i, (ARRAY['brand','growth','product','field','lifecycle'])[1 + i % 5],
       'owner-' || (i % 900), ARRAY['req-' || (i % 1300)], ARRAY[(ARRAY['email','video','display','paid_search',
       'content'])[1 + i % 5]], CASE WHEN i % 10 = 9 THEN 'cancelled' ELSE 'launched' END, true, 1 + (i % 5 = 0)::int,
       (i % 5 = 0)::int, (i % 5 = 0)::int, s, s::date, to_char(s, 'YYYY') || '-Q' || extract(quarter FROM s),
       (s + interval '40 days')::date, l, l::date, to_char(l, 'YYYY') || '-Q' || extract(quarter FROM l),
       i % 3 > 0, extract(epoch FROM l - s) / 3600, i % 4 > 0, NULL, NULL, 'L-' || (i % 15), 'L-' || (i % 15),
       'L-' || (i % 15), 1000 + i % 9000, CASE WHEN i % 7 = 0 THEN 'USD' ELSE 'EUR' END
FROM generate_series(1, $1::int) i,
     LATERAL (SELECT timestamptz '2025-01-01' + (i % 700) * interval '1 day' AS s) a,
     LATERAL (SELECT a.s + interval '1 day' * (10 + i % 60) AS l) b;
INSERT INTO readmodel.gate_decisions
SELECT c.campaign_id, 1, g, 'approved',
       c.first_submitted_at + ((p - 1) * 30 + 30 + (hashtext(c.campaign_id) % 20)) * interval '1 hour', gen_random_uuid(),
       initcap(g), 'review', p, p = 2, c.first_submitted_at + ((p - 1) * 30) * interval '1 hour', 48, 'approver', 1,
       NULL, 30 + (hashtext(c.campaign_id) % 20), (hashtext(c.campaign_id) % 3 = 0)
FROM readmodel.campaigns c, LATERAL (VALUES (1, 'brief-review'), (2, 'budget')) v(p, g);
INSERT INTO readmodel.spends
SELECT 'ads', c.campaign_id || '-' || n, gen_random_uuid(), c.campaign_id, 10 + (hashtext(c.campaign_id) % 500 + n),
       c.committed_currency, c.launched_on + n, NULL, NULL, c.launched_at + n * interval '1 day'
FROM readmodel.campaigns c, generate_series(1, $1::int) n;
INSERT INTO readmodel.campaign_money
SELECT c.campaign_id, c.committed_currency, c.committed, sum(s.amount), 0, true
FROM readmodel.campaigns c JOIN readmodel.spends s USING (campaign_id) GROUP BY 1, 2, 3;
"""


async def seed(dsn: str, campaigns: int, spends_each: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        statements = [st for st in SEED_SQL.split(";\n") if st.strip()]
        for statement, arg in zip(statements, (campaigns, None, spends_each, None), strict=True):
            await conn.execute(statement, *(() if arg is None else (arg,)))
        async with conn.transaction():  # the totals the derivation would have kept
            await derive.recompute_totals(conn, LIVE_SCHEMA)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def rebuild(dsn: str, prefix: str) -> tuple[float, int, dict]:
    """The rebuild command in its own process: (seconds, peak RSS in kB, its JSON outcome)."""
    env = {**os.environ, "METRICS_DATABASE_URL": dsn, "METRICS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
           "METRICS_TOPIC_PREFIX": prefix, "METRICS_LOG_LEVEL": "WARNING", "METRICS_LOG_JSON": "false"}
    started = time.perf_counter()
    # Its output goes to files, not pipes: a pipe nobody reads while it runs fills up and
    # blocks a rebuild that logs a lot (a failing one), and the bench with it.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "marops_metrics.rebuild"], env=env, stdout=out, stderr=err,
                                text=True)
        peak = 0
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    # An exiting process may no longer list its memory.
                    peak = max([peak, *(int(line.split()[1]) for line in status if line.startswith("VmHWM"))])
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"rebuild failed: {err.read()[-2000:]}")
        return seconds, peak, json.loads(out.read().strip().splitlines()[-1])


async def p95(pool: asyncpg.Pool, work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.quantiles(times, n=20)[18] * 1000


async def lag(live: Live, prefix: str) -> tuple[float, float, int, str]:
    """Offer new campaigns' briefs at 1,000/s; each is visible once the summary's
    submitted count covers it. Returns (p50 ms, p99 ms, events offered, CPU shares)."""
    scope = Scope(Filters())
    base = (await readside.summary(live.pool, scope)).body["campaigns"]["submitted"]
    producer = kafka.producer(BOOTSTRAP)
    await producer.start()
    published: list[float] = []
    visible: list[float] = []
    total = 1000 * LAG_SECONDS
    rng = random.Random(3)

    topic = registry.spec_for("BriefSubmitted").topic(prefix)
    briefs = [_record(registry.new_event(c.BriefSubmitted(
        campaign_id=f"LAG{n:07d}", version=1, title="lag", team=TEAMS[n % len(TEAMS)], owner="o", requester="r",
        objective="grow", channels=[rng.choice(CHANNELS)], target_launch_date=BASE.date(),
        flight_start=BASE.date(), flight_end=BASE.date(),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(100), currency="EUR"), budget_line_id="L")),
        source="marops/bench", time=BASE)) for n in range(total)]

    async def offer() -> None:
        started = time.perf_counter()
        for n, (_, key, value, _) in enumerate(briefs):  # new campaigns' briefs
            await producer.send(topic, value=value, key=key.encode())
            published.append(time.perf_counter())
            delay = started + (n + 1) / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def watch() -> None:
        while len(visible) < total:
            seen = (await readside.summary(live.pool, scope)).body["campaigns"]["submitted"] - base
            now = time.perf_counter()
            while len(visible) < min(seen, len(published)):
                visible.append(now)
            await asyncio.sleep(0.005)

    cpu_before, started = cpu_seconds(), time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(offer(), watch()), timeout=LAG_SECONDS * 10 + 60)
    finally:
        await producer.stop()
    cpu = cpu_shares(cpu_before, cpu_seconds(), time.perf_counter() - started)
    lags = sorted((v - p) * 1000 for p, v in zip(published, visible, strict=False))
    return lags[len(lags) // 2], lags[int(len(lags) * 0.99) - 1], total, cpu


def line(name: str, value: str, peer: str, target: str) -> None:
    print(f"  {name:<44} {value:>16}   {peer:<40} target {target}")


async def main() -> None:
    run = uuid.uuid4().hex[:6]
    print(f"metrics at scale (BENCH_SCALE={SCALE}: {CAMPAIGNS} campaigns, {SPENDS_PER_CAMPAIGN} spends each; "
          f"{os.cpu_count()} cores)")
    hist_prefix, live_prefix = f"bm{run}h.", f"bm{run}l."
    await kafka.ensure_topics(BOOTSTRAP, kafka.all_topics(hist_prefix), partitions=PARTITIONS)
    await kafka.ensure_topics(BOOTSTRAP, kafka.all_topics(live_prefix), partitions=PARTITIONS)
    started = time.perf_counter()
    (total, _), (live_total, live_distinct) = await publish([hist_prefix, live_prefix], history(),
                                                            [None, LIVE_EVENTS])
    print(f"  history: {total} records ({live_total} for the live run), generated and published in "
          f"{time.perf_counter() - started:.0f} s")

    names = [f"bench_{run}_live", f"bench_{run}_hist"]
    try:
        live_dsn, hist_dsn = await database(names[0]), await database(names[1])

        peer_live = await bare_consume(live_prefix, live_total)
        async with Live(live_dsn, live_prefix) as live:
            # timed from its first applied batch (not its start-up and group join) to the last
            first: list[tuple[float, int]] = []

            async def started() -> bool:
                applied = await live.applied()
                if applied:
                    first.append((time.perf_counter(), applied))
                return bool(applied)

            async def caught_up() -> bool:  # redelivered copies leave no inbox row
                return await live.applied() >= live_distinct

            await live.until(started, "the worker's first batch", timeout=120, every=0.005)
            await live.until(caught_up, f"{live_distinct} events applied", timeout=600, every=0.05)
            (began, before), = first
            rate = live_total * (1 - before / live_distinct) / (time.perf_counter() - began)
            line("live projection (records/s)", f"{rate:,.0f}", f"bare consume+json {peer_live:,.0f}/s",
                 f">= 50% of peer (is {rate / peer_live:.0%})")
            median, p99, offered, cpu = await lag(live, live_prefix)
            line("lag published -> /summary, p99 (ms)", f"{p99:,.0f}", f"p50 {median:,.0f} ms; {offered} events "
                 "at 1,000/s offered", "<= 100 ms")
            print(f"  CPU during the lag: {cpu}")

        peer_hist = await bare_consume(hist_prefix, total)
        wall, rss_kb, outcome = rebuild(hist_dsn, hist_prefix)
        applied = outcome["events_applied"] + outcome["records_skipped"]
        phases = outcome["phase_seconds"]
        seconds = sum(phases.values())  # the run itself, without the process's start-up
        per_second = applied / seconds
        line("rebuild (records/s)", f"{per_second:,.0f}", f"bare consume+json {peer_hist:,.0f}/s",
             f">= 50% of peer (is {per_second / peer_hist:.0%})")
        line(f"rebuild of {applied:,} records (s)", f"{seconds:,.1f}",
             f"1,000,000 at this rate: {1_000_000 / per_second:,.0f} s", "1M <= 60 s")
        print(f"  rebuild phases: {', '.join(f'{k} {v:.1f} s' for k, v in phases.items())}; "
              f"process wall time {wall:.1f} s")
        line("rebuild peak RSS (MB)", f"{rss_kb / 1024:,.0f}", "the rebuild process (VmHWM)", "<= 300 MB")

        query_dsn = hist_dsn
        if QUERY_SIZE is not None:
            names.append(f"bench_{run}_query")
            query_dsn = await database(names[-1])
            started = time.perf_counter()
            await seed(query_dsn, *QUERY_SIZE)
            print(f"  seeded a read model of {QUERY_SIZE[0]:,} campaigns x {QUERY_SIZE[1]} spends in "
                  f"{time.perf_counter() - started:.0f} s")
        pool = await db.create_pool(query_dsn, max_size=2)
        try:
            counts = await pool.fetchrow("SELECT (SELECT count(*) FROM readmodel.campaigns) AS c, "
                                         "(SELECT count(*) FROM readmodel.spends) AS s")
            scope = Scope(Filters())
            rounds = 40 if SCALE == "small" else 25
            peer = await p95(pool, lambda: pool.fetchval("SELECT 1"), rounds)
            print(f"  read model: {counts['c']:,} campaigns, {counts['s']:,} spends; peer: SELECT 1 p95 "
                  f"{peer:.1f} ms; reports: computed (after a write) | remembered (same revision)")
            queries = {
                "/summary": lambda: readside.summary(pool, scope),
                "/aggregates/cycle-time?group_by=team": lambda: readside.campaign_report(
                    pool, "cycle_time", scope, GroupBy.team),
                "/aggregates/gate-times?group_by=channel": lambda: readside.gate_report(
                    pool, "time_in_gate", scope, GroupBy.channel),
                "/aggregates/variance/campaigns?group_by=team": lambda: readside.variance_by_campaign(
                    pool, scope, GroupBy.team),
                "/campaigns (first page of 100)": lambda: readside.campaign_table(pool, scope, limit=100),
            }
            async def computed(work):  # noqa: ANN001, ANN202 - as a request after a write finds it
                readside.forget()
                return await work()

            for name, work in queries.items():
                cold = await p95(pool, lambda work=work: computed(work), rounds)
                await work()
                warm = await p95(pool, work, rounds)
                line(f"p95 {name} (ms)", f"{cold:,.1f} | {warm:,.1f}",
                     f"SELECT 1 {peer:.1f} ms (x{cold / peer:,.0f} | x{warm / peer:,.1f})", "<= 50 ms")
        finally:
            await pool.close()
    finally:
        for name in names:
            await drop(name)


if __name__ == "__main__":
    asyncio.run(main())

