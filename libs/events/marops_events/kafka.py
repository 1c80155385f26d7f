"""Kafka clients configured for this system, and topic creation.

aiokafka's defaults (acks=1, no idempotence, auto-commit, auto_offset_reset=latest) are
wrong here, so every client is built through these functions. They also carry how to
reach the cluster (``KafkaConnection``: bootstrap servers, SASL PLAIN/SCRAM, TLS with
server verification and client certificates), so every producer, consumer and admin
client of the services and CLIs connects the same way; a plain ``"host:port"`` string is
accepted where no security is needed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from . import registry
from .registry import DLQ_SUFFIX

log = logging.getLogger(__name__)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurityError(RuntimeError):
    """The cluster refused us (credentials, certificate): retrying will not help, so a
    process fails at start-up with this message instead of waiting for Kafka."""


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach the cluster. ``security_protocol`` is Kafka's own names; SASL_* needs a
    mechanism, a username and a password; *SSL verifies the brokers' certificates (against
    ``ssl_cafile``, else the system's CAs) and their host names, and presents a client
    certificate when ``ssl_certfile``/``ssl_keyfile`` are set (mTLS)."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in get_args(SecurityProtocol):
            raise ValueError(f"Kafka security protocol {self.security_protocol!r}: expected one of "
                             f"{', '.join(get_args(SecurityProtocol))}")
        if self.sasl:
            if self.sasl_mechanism not in get_args(SaslMechanism):
                raise ValueError(f"{self.security_protocol} needs a SASL mechanism, one of "
                                 f"{', '.join(get_args(SaslMechanism))} (got {self.sasl_mechanism!r})")
            if not self.sasl_username or not self.sasl_password:
                raise ValueError(f"{self.security_protocol} needs a SASL username and password")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("a Kafka client certificate needs both the certificate and its key file")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ssl_cafile)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self.ssl_key_password)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                   "security_protocol": self.security_protocol}
        if self.sasl:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def describe(self) -> str:
        who = f" as {self.sasl_username!r} ({self.sasl_mechanism})" if self.sasl else ""
        return f"{self.bootstrap_servers} over {self.security_protocol}{who}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "MAROPS_") -> KafkaConnection:
        """For the command-line tools: the same ``MAROPS_KAFKA_*`` variables the services read."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(f"{prefix}KAFKA_{name}") or None

        return cls(
            bootstrap_servers=get("BOOTSTRAP_SERVERS") or "127.0.0.1:19092",
            security_protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),  # type: ignore[arg-type]
            sasl_mechanism=get("SASL_MECHANISM"),  # type: ignore[arg-type]
            sasl_username=get("SASL_USERNAME"), sasl_password=get("SASL_PASSWORD"),
            ssl_cafile=get("SSL_CAFILE"), ssl_certfile=get("SSL_CERTFILE"), ssl_keyfile=get("SSL_KEYFILE"),
            ssl_key_password=get("SSL_KEY_PASSWORD"),
            ssl_check_hostname=(get("SSL_CHECK_HOSTNAME") or "true").lower() not in ("0", "false", "no"),
        )


Connectable = KafkaConnection | str


def connection(target: Connectable) -> KafkaConnection:
    return target if isinstance(target, KafkaConnection) else KafkaConnection(bootstrap_servers=target)


# The topics are the system's event log: metrics rebuilds its read models by replaying
# them from the beginning, so nothing may expire. Compaction would drop history too.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def producer(target: Connectable, *, client_id: str = "marops", **overrides: object) -> AIOKafkaProducer:
    options: dict[str, object] = dict(
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=30_000,
    )
    options.update(overrides)
    return AIOKafkaProducer(**connection(target).client_options(), **options)


def consumer(target: Connectable, group_id: str | None, *topics: str, client_id: str = "marops",
             **overrides: object) -> AIOKafkaConsumer:
    options: dict[str, object] = dict(
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_interval_ms=300_000,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **connection(target).client_options(), **options)


def consumer_factory(target: Connectable, *, client_id: str = "marops") -> Callable[..., AIOKafkaConsumer]:
    """``(group_id, *topics) -> consumer``: how services, workers and replays (group None:
    manual assignment, nothing committed) build their consumers, with one configuration."""

    def make(group_id: str | None, *topics: str) -> AIOKafkaConsumer:
        return consumer(target, group_id, *topics, client_id=client_id)

    return make


def admin(target: Connectable, *, client_id: str = "marops-admin", **overrides: object) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection(target).client_options(), client_id=client_id, **overrides)


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer | AIOKafkaAdminClient,
                       target: Connectable) -> None:
    """``client.start()``, with a refused login or certificate reported as what it is.

    aiokafka reports a failed SASL authentication or TLS handshake at bootstrap as
    "Unable to bootstrap", the same as an unreachable broker; the cause is kept on the
    exception chain, and that is where we look."""
    try:
        await client.start()
    except KafkaConnectionError as exc:
        reason = await _diagnose(connection(target))
        if reason is None:
            raise
        raise KafkaSecurityError(f"Kafka at {connection(target).describe()} refused the connection: "
                                 f"{reason}") from exc


async def _diagnose(target: KafkaConnection, timeout: float = 10.0) -> str | None:
    """Connect to each bootstrap server the way the client does and say why it failed, if
    it was the credentials or a certificate (aiokafka only logs that and raises "Unable
    to bootstrap", the same as for a broker that is down)."""
    options = target.client_options()
    for host, port, _ in collect_hosts(target.bootstrap_servers):
        try:
            conn = await asyncio.wait_for(create_conn(
                host, port, client_id="marops-diagnosis", ssl_context=options.get("ssl_context"),
                security_protocol=target.security_protocol, sasl_mechanism=options.get("sasl_mechanism"),
                sasl_plain_username=target.sasl_username, sasl_plain_password=target.sasl_password,
                request_timeout_ms=int(timeout * 1000)), timeout)
        except Exception as exc:  # any failure: look at what it was
            reason = _security_failure(exc)
            if reason is not None:
                return reason
            continue
        conn.close()
    return None
def all_topics(prefix: str = "", *, with_dlq: bool = True) -> list[str]:
    names = registry.topics(prefix)
    return names + [t + DLQ_SUFFIX for t in names] if with_dlq else names


async def ensure_topics(
    target: Connectable,
    topics: Iterable[str],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created.

    On a cluster, ``replication_factor=3`` with ``min_insync_replicas=2`` (and the producers'
    acks=all) keeps every acknowledged event through the loss of one broker; ``None`` leaves
    min.insync.replicas to the broker's default."""
    config = dict(TOPIC_CONFIG)
    if min_insync_replicas is not None:
        config["min.insync.replicas"] = str(min_insync_replicas)
    client = admin(target)
    await start_client(client, target)
    try:
        existing = set(await client.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await client.create_topics([
                    NewTopic(t, num_partitions=partitions, replication_factor=replication_factor,
                             topic_configs=config)
                    for t in missing
                ])
            except TopicAlreadyExistsError:
                # Another service created them between our list and create.
                pass
            log.info("created topics %s", missing)
        # Also when another service created them a moment ago: producing or fetching before
        # partitions have leaders only logs errors and retries.
        await _wait_for_leaders(client, list(dict.fromkeys(topics)))
        return missing
    finally:
        await client.close()


def _security_failure(exc: BaseException) -> str | None:
    """Why the cluster refused us, if it was the credentials or a certificate."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = type(cause).__name__
        if "Sasl" in name or "Authentication" in name or "authentication" in str(cause).lower():
            return f"authentication failed (wrong username or password?): {cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the broker's certificate did not verify: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause}"
        cause = cause.__cause__ or cause.__context__
    return None


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 15.0) -> None:
    """Creation returns before partitions have leaders; producing earlier only logs errors."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        described = await admin.describe_topics(topics)
        if all(t.get("error_code", 0) == 0 and t.get("partitions")
               and all(p.get("leader", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.1)
    log.warning("partitions of %s still without leaders after %.0fs", topics, timeout)
