"""pytest plugin (entry point `marops`): real PostgreSQL and Kafka for every test.

Fixtures
--------
infra         (session) `Infra`: `kafka_bootstrap`, `pg_admin_dsn`, `dsn(dbname)`, `mode`
kafka_bootstrap (session) "host:port" of the Kafka broker
pg_dsn        (function) DSN of a fresh, empty database, dropped after the test
make_pg_dsn   (function) factory: `make_pg_dsn("intake")` -> DSN of another fresh database
topic_prefix  (function) unique "t<10 hex>." to prepend to every topic name of the test

MAROPS_TEST_INFRA selects where the infrastructure comes from:
  native (default)  infra/up.sh of the repository (idempotent; starts or reuses the native
                    PostgreSQL and Kafka), ports from MAROPS_PG_PORT / MAROPS_KAFKA_PORT
  testcontainers    PostgreSQL (postgres:16) and Kafka (apache/kafka:4.1.1, KRaft) in
                    containers for the session (needs a Docker engine and
                    `pip install -e 'libs/testkit[containers]'`)
If the infrastructure cannot start, the session stops with the reason (exit code 3):
a test that needs PostgreSQL or Kafka is never skipped.

Housekeeping on the long-lived native broker: topics named with `topic_prefix` are
deleted after the test; and at session start, topics that look like test topics
("t" + 10 hex + ".", however named) and are older than MAROPS_TEST_TOPIC_MAX_AGE seconds
(300, the per-test timeout) are deleted, so interrupted runs and fixtures that name
their topics themselves do not pile up partitions (each one holds a file descriptor
and memory in the broker). A fixture that keeps a prefix longer (module or session
scope) should name its topics some other way.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
import warnings
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from marops_testkit.kafka import sweep_stale_test_topics

T = TypeVar("T")

INFRA_EXIT_CODE = 3
KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:16"


@dataclass(frozen=True)
class Infra:
    """Where the test infrastructure listens."""

    kafka_bootstrap: str
    #: server URL without a database, e.g. postgresql://marops@127.0.0.1:15432
    pg_server: str
    mode: str = "native"
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)

    @property
    def pg_admin_dsn(self) -> str:
        """Superuser DSN to the `postgres` database (create/drop databases with it)."""
        return self.dsn("postgres")

    def dsn(self, dbname: str) -> str:
        """DSN of database `dbname` on the same server, as the superuser."""
        return f"{self.pg_server}/{dbname}"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private event loop in another thread.

    Keeps sync fixtures independent of whatever loop pytest-asyncio has set up for the test.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="marops-testkit") as pool:
        return pool.submit(asyncio.run, coro).result()


def _fail_session(reason: str) -> None:
    pytest.exit(f"marops test infrastructure unavailable: {reason}", returncode=INFRA_EXIT_CODE)


def _mode() -> str:
    mode = os.environ.get("MAROPS_TEST_INFRA", "native").strip().lower() or "native"
    if mode not in ("native", "testcontainers"):
        _fail_session(f"MAROPS_TEST_INFRA={mode!r}: expected 'native' or 'testcontainers'")
    return mode


def _repo_root(config: pytest.Config) -> Path:
    starts = [Path(os.environ["MAROPS_REPO_ROOT"])] if os.environ.get("MAROPS_REPO_ROOT") else []
    starts += [Path(config.rootpath), Path(__file__).resolve()]
    for start in starts:
        for d in (start, *start.parents):
            if (d / "infra" / "up.sh").is_file():
                return d
    _fail_session(f"infra/up.sh not found above {config.rootpath} or {Path(__file__).parent} (set MAROPS_REPO_ROOT)")
    raise AssertionError("unreachable")


def _text(output: bytes | str | None) -> str:
    # TimeoutExpired carries bytes even when the run asked for text
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _start_native(config: pytest.Config) -> Infra:
    root = _repo_root(config)
    try:
        proc = subprocess.run(
            ["bash", str(root / "infra" / "up.sh")],
            cwd=root, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
        )
    except subprocess.TimeoutExpired as exc:
        _fail_session(f"infra/up.sh did not finish within 900s\n{_text(exc.stdout)}{_text(exc.stderr)}")
    if proc.returncode != 0:
        _fail_session(f"infra/up.sh exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    pg_port = os.environ.get("MAROPS_PG_PORT", "15432")
    kafka_port = os.environ.get("MAROPS_KAFKA_PORT", "19092")
    _sweep_stale_topics(root, f"127.0.0.1:{kafka_port}")
    return Infra(
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        pg_server=f"postgresql://marops@127.0.0.1:{pg_port}",
        mode="native",
    )


def _sweep_stale_topics(root: Path, bootstrap: str) -> None:
    """Delete old test topics (interrupted runs, fixtures naming topics themselves)."""
    infra_dir = Path(os.environ.get("MAROPS_INFRA_DIR", ".infra"))
    data_dir = (infra_dir if infra_dir.is_absolute() else root / infra_dir) / "kafka" / "data"
    max_age = float(os.environ.get("MAROPS_TEST_TOPIC_MAX_AGE", "300"))
    try:
        run_sync(sweep_stale_test_topics(bootstrap, data_dir, max_age=max_age))
    except Exception as exc:  # housekeeping only
        warnings.warn(f"could not delete stale test topics: {exc!r}", stacklevel=1)


def _start_containers() -> Infra:
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.14
            from testcontainers.postgres import PostgresContainer
    except ImportError as exc:
        _fail_session(
            f"MAROPS_TEST_INFRA=testcontainers needs testcontainers ({exc}); "
            "install it with: .venv/bin/pip install -e 'libs/testkit[containers]'"
        )

    closers: list[Callable[[], None]] = []
    try:
        pg = PostgresContainer(
            os.environ.get("MAROPS_TEST_POSTGRES_IMAGE", POSTGRES_IMAGE),
            username="marops", password="marops", dbname="postgres", driver=None,
        )
        pg.with_command("postgres -c max_connections=300 -c fsync=off")
        pg.start()
        closers.append(pg.stop)
        pg_host, pg_port = pg.get_container_host_ip(), pg.get_exposed_port(5432)

        # The broker must advertise the host-side port, known only once the container
        # exists: the command waits for a file holding the advertised listeners.
        kafka = DockerContainer(os.environ.get("MAROPS_TEST_KAFKA_IMAGE", KAFKA_IMAGE))
        kafka.with_exposed_ports(9092)
        for key, value in {
            "CLUSTER_ID": "bWFyb3BzLXRlc3Qta2Fma2",
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
            "KAFKA_NUM_PARTITIONS": "6",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        }.items():
            kafka.with_env(key, value)
        kafka.with_command(
            'sh -c \'while [ ! -f /tmp/marops-advertised ]; do sleep 0.1; done; '
            'export KAFKA_ADVERTISED_LISTENERS="$(cat /tmp/marops-advertised)"; '
            "exec /etc/kafka/docker/run'"
        )
        kafka.start()
        closers.append(kafka.stop)
        k_host, k_port = kafka.get_container_host_ip(), kafka.get_exposed_port(9092)
        advertised = f"PLAINTEXT://{k_host}:{k_port},BROKER://localhost:9093"
        kafka.exec(["sh", "-c", f"echo '{advertised}' > /tmp/marops-advertised"])
        wait_for_logs(kafka, "Kafka Server started", timeout=180)
    except Exception as exc:  # docker missing, image pull failure, startup timeout...
        for close in reversed(closers):
            try:
                close()
            except Exception:
                pass
        _fail_session(f"MAROPS_TEST_INFRA=testcontainers: could not start containers: {exc!r}")

    return Infra(
        kafka_bootstrap=f"{k_host}:{k_port}",
        pg_server=f"postgresql://marops:marops@{pg_host}:{pg_port}",
        mode="testcontainers",
        _closers=closers,
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"marops test infrastructure: {os.environ.get('MAROPS_TEST_INFRA', 'native') or 'native'}"


@pytest.fixture(scope="session")
def infra(pytestconfig: pytest.Config) -> Iterator[Infra]:
    """The session's PostgreSQL server and Kafka broker (started or reused)."""
    started = _start_containers() if _mode() == "testcontainers" else _start_native(pytestconfig)
    try:
        yield started
    finally:
        for close in reversed(started._closers):
            close()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    """Bootstrap servers of the Kafka broker, e.g. "127.0.0.1:19092"."""
    return infra.kafka_bootstrap


async def create_database(admin_dsn: str, name: str) -> None:
    """CREATE DATABASE as the superuser (names come from tests, never from users)."""
    conn = await asyncpg.connect(admin_dsn, timeout=15)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_databases(admin_dsn: str, names: list[str]) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=15)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def make_pg_dsn(infra: Infra) -> Iterator[Callable[[str], str]]:
    """Factory of fresh, empty databases, all dropped (WITH (FORCE)) after the test.

    `make_pg_dsn("intake")` -> "postgresql://marops@127.0.0.1:15432/t_<12 hex>_intake".
    """
    created: list[str] = []

    def make(label: str = "") -> str:
        suffix = "".join(c for c in label.lower() if c.isalnum() or c == "_")[:40]
        name = f"t_{uuid.uuid4().hex[:12]}" + (f"_{suffix}" if suffix else "")
        run_sync(create_database(infra.pg_admin_dsn, name))
        created.append(name)
        return infra.dsn(name)

    yield make
    if created:
        run_sync(drop_databases(infra.pg_admin_dsn, created))


@pytest.fixture
def pg_dsn(make_pg_dsn: Callable[[str], str]) -> str:
    """DSN of a fresh, empty database of its own for this test (dropped afterwards)."""
    return make_pg_dsn("")


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """Unique prefix, e.g. "t1a2b3c4d5e.", to prepend to every topic name in this test.

    If the test used Kafka, the topics named with the prefix are deleted afterwards, so a
    long-lived development broker does not pile up partitions run after run.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    if not {"infra", "kafka_bootstrap"} & set(request.fixturenames):
        return
    bootstrap = request.getfixturevalue("infra").kafka_bootstrap
    try:
        run_sync(delete_topics_with_prefix(bootstrap, prefix))
    except Exception as exc:  # cleanup only: never fail the test for it
        warnings.warn(f"could not delete the test's topics {prefix}*: {exc!r}", stacklevel=1)


@pytest.fixture(scope="module")
def module_pg_dsn(infra: Infra) -> Iterator[str]:
    """Like `pg_dsn`, for a whole test module (one app shared by the module's tests)."""
    name = f"t_{uuid.uuid4().hex[:12]}_module"
    run_sync(create_database(infra.pg_admin_dsn, name))
    yield infra.dsn(name)
    run_sync(drop_databases(infra.pg_admin_dsn, [name]))


@pytest.fixture(scope="module")
def module_topic_prefix(infra: Infra) -> Iterator[str]:
    """Like `topic_prefix`, for a whole test module; its topics are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    try:
        run_sync(delete_topics_with_prefix(infra.kafka_bootstrap, prefix))
    except Exception as exc:  # cleanup only: never fail the module for it
        warnings.warn(f"could not delete the module's topics {prefix}*: {exc!r}", stacklevel=1)
