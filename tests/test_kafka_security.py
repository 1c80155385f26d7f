"""Every Kafka client of the services and CLIs against a secured broker: SASL (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512) over TLS, TLS server verification and mTLS client
certificates, all from settings.

The bug report: marops had no SASL or TLS settings at all, so it could not connect to a
managed cluster (MSK, Confluent Cloud, Aiven, Strimzi all require one or both), and a
wrong password would have looked like a broker that is down.

One native broker for the module (marops_testkit.brokers), with a plaintext listener for
itself only, a SASL_SSL listener and an SSL listener that requires client certificates.
The certificates are made here: a CA, the broker's (for 127.0.0.1 / localhost), a
client's, and a stranger CA that signed nothing the broker has.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from marops_events import contracts as c
from marops_events import kafka, outbox
from marops_events.kafka import KafkaConnection, KafkaSecurityError
from marops_events.registry import new_event, spec_for
from marops_governance.main import create_app as governance_app
from marops_governance.settings import Settings as GovernanceSettings
from marops_testkit.apps import running, service_settings
from marops_testkit.brokers import Broker, extra_port, start_broker

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "marops-svc", "s3cret-for-this-test-only"
INTERNAL, CONTROLLER, SASL_SSL, MTLS = (extra_port(n) for n in (2, 3, 4, 5))


# ------------------------------------------------------------------ certificates


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool = False,
          sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pkcs8(key) -> bytes:  # Kafka's PEM keystores want PKCS#8
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class Certs:
    ca: Path
    stranger_ca: Path
    client_cert: Path
    client_key: Path


def make_certs(d: Path) -> tuple[Certs, Path]:
    ca_key, stranger_key, server_key, client_key = _key(), _key(), _key(), _key()
    ca = _cert("marops test CA", ca_key, "marops test CA", ca_key, ca=True)
    stranger = _cert("some other CA", stranger_key, "some other CA", stranger_key, ca=True)
    server = _cert("kafka.test", server_key, "marops test CA", ca_key,
                   sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client = _cert("marops-intake", client_key, "marops test CA", ca_key)
    files = {"ca.pem": _pem(ca), "stranger-ca.pem": _pem(stranger), "client.pem": _pem(client),
             "client.key": _pkcs8(client_key), "server-keystore.pem": _pkcs8(server_key) + _pem(server) + _pem(ca)}
    for name, data in files.items():
        (d / name).write_bytes(data)
    return Certs(d / "ca.pem", d / "stranger-ca.pem", d / "client.pem", d / "client.key"), d / "server-keystore.pem"


# ------------------------------------------------------------------ the broker


@dataclass(frozen=True)
class Secured:
    certs: Certs
    broker: Broker

    def sasl(self, mechanism: str = "SCRAM-SHA-512", password: str = PASSWORD, **kw) -> KafkaConnection:
        return KafkaConnection(f"127.0.0.1:{SASL_SSL}", "SASL_SSL", mechanism, USER, password,  # type: ignore[arg-type]
                               ssl_cafile=str(self.certs.ca), **kw)

    def mtls(self, *, with_client_cert: bool = True) -> KafkaConnection:
        cert = dict(ssl_certfile=str(self.certs.client_cert), ssl_keyfile=str(self.certs.client_key))
        return KafkaConnection(f"127.0.0.1:{MTLS}", "SSL", ssl_cafile=str(self.certs.ca),
                               **(cert if with_client_cert else {}))


@pytest.fixture(scope="module")
def secured(infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    d = tmp_path_factory.mktemp("secure-kafka")
    certs, keystore = make_certs(d)
    jaas_plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                  f'user_{USER}="{PASSWORD}";')
    jaas_scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    properties = {
        "process.roles": "broker,controller", "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{CONTROLLER}",
        "listeners": (f"INTERNAL://127.0.0.1:{INTERNAL},CONTROLLER://127.0.0.1:{CONTROLLER},"
                      f"SASL_SSL://127.0.0.1:{SASL_SSL},MTLS://127.0.0.1:{MTLS}"),
        "advertised.listeners": f"INTERNAL://127.0.0.1:{INTERNAL},SASL_SSL://127.0.0.1:{SASL_SSL},MTLS://127.0.0.1:{MTLS}",
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL",
        "inter.broker.listener.name": "INTERNAL", "controller.listener.names": "CONTROLLER",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": jaas_plain,
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": jaas_scram,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas_scram,
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(certs.ca),
        "listener.name.mtls.ssl.client.auth": "required",
        "offsets.topic.replication.factor": "1", "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1", "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1", "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false", "num.partitions": "1",
    }
    scram = [f"SCRAM-SHA-256=[name={USER},password={PASSWORD}]", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"]
    try:
        broker = start_broker(ROOT, d, properties, ports=[INTERNAL, SASL_SSL, MTLS], scram_users=scram)
    except RuntimeError as exc:
        pytest.fail(f"the SASL_SSL test broker did not start: {exc}")
    try:
        yield Secured(certs, broker)
    finally:
        broker.kill()


def spend() -> c.SpendRecorded:
    return c.SpendRecorded(campaign_id=f"c-{uuid.uuid4().hex[:8]}", source_system="test",
                           source_reference=uuid.uuid4().hex, amount=c.Money(amount=Decimal("1.00"), currency="EUR"),
                           incurred_on=dt.date(2026, 5, 1))


async def round_trip(target: KafkaConnection, prefix: str) -> None:
    """Admin (create topics), producer and consumer, all built from ``target``."""
    topic = spec_for("SpendRecorded").topic(prefix)
    assert await kafka.ensure_topics(target, [topic], partitions=1) == [topic]
    producer = kafka.producer(target, client_id="security-test")
    await kafka.start_client(producer, target)
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = kafka.consumer(target, f"{prefix}group", topic)
    await kafka.start_client(consumer, target)
    try:
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=20_000), 30)
        values = [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    assert values == [b"hello"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_over_tls_for_admin_producer_and_consumer(secured: Secured, mechanism: str) -> None:
    await round_trip(secured.sasl(mechanism), f"t{uuid.uuid4().hex[:10]}.")


async def test_mtls_client_certificate(secured: Secured) -> None:
    await round_trip(secured.mtls(), f"t{uuid.uuid4().hex[:10]}.")


async def test_mtls_without_a_client_certificate_is_refused(secured: Secured) -> None:
    with pytest.raises((KafkaSecurityError, kafka.KafkaConnectionError)):
        await kafka.ensure_topics(secured.mtls(with_client_cert=False), ["t-refused"], partitions=1)


async def test_a_broker_certificate_from_another_ca_is_refused(secured: Secured) -> None:
    stranger = KafkaConnection(f"127.0.0.1:{SASL_SSL}", "SASL_SSL", "SCRAM-SHA-256", USER, PASSWORD,
                               ssl_cafile=str(secured.certs.stranger_ca))
    with pytest.raises(KafkaSecurityError, match="certificate did not verify"):
        await kafka.ensure_topics(stranger, ["t-stranger"], partitions=1)


def secured_settings(secured: Secured, pg_dsn: str, prefix: str, password: str = PASSWORD) -> GovernanceSettings:
    return service_settings(
        GovernanceSettings, pg_dsn=pg_dsn, kafka_bootstrap=f"127.0.0.1:{SASL_SSL}", topic_prefix=prefix,
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username=USER,
        kafka_sasl_password=password, kafka_ssl_cafile=str(secured.certs.ca))


async def test_a_service_runs_every_client_over_sasl_ssl(secured: Secured, pg_dsn: str, topic_prefix: str) -> None:
    """Governance (topics, API producer, outbox relay, consumer) against the secured
    listener only: an event put into its outbox comes out on the topic, and its consumer
    group has joined the cluster."""
    settings = secured_settings(secured, pg_dsn, topic_prefix)
    app = governance_app(settings)
    async with running(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        runtime = app.state.runtime
        event = new_event(spend(), source="marops/test")
        async with runtime.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, event)
        reader = kafka.consumer(settings.kafka_connection(), None, spec_for("SpendRecorded").topic(topic_prefix))
        await kafka.start_client(reader, settings.kafka_connection())
        try:
            seen = []
            for _ in range(30):
                batch = await reader.getmany(timeout_ms=1000)
                seen += [r.value for records in batch.values() for r in records]
                if seen:
                    break
        finally:
            await reader.stop()
        assert any(str(event.id).encode() in v for v in seen), "the relay did not publish over SASL_SSL"
        admin = kafka.admin(settings.kafka_connection())
        await kafka.start_client(admin, settings.kafka_connection())
        try:
            group = f"{topic_prefix}marops-governance"
            for _ in range(120):  # a fresh broker creates __consumer_offsets first
                described = await admin.describe_consumer_groups([group])
                if any(m for g in described for m in _members(g)):
                    break
                await asyncio.sleep(0.5)
            else:
                pytest.fail(f"consumer group {group} never had a member over SASL_SSL: {described}")
        finally:
            await admin.close()
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await conn.close()


def _members(response) -> list:
    """Members of each group in a DescribeGroups response (aiokafka returns the raw structs)."""
    return [member for group in response.groups for field in group if isinstance(field, list) for member in field]


async def test_a_wrong_password_stops_the_service_at_start_up_with_a_clear_error(
        secured: Secured, pg_dsn: str, topic_prefix: str) -> None:
    settings = secured_settings(secured, pg_dsn, topic_prefix, password="not-the-password")
    with pytest.raises(KafkaSecurityError) as refused:
        async with running(governance_app(settings)):
            pass
    message = str(refused.value)
    assert f"127.0.0.1:{SASL_SSL} over SASL_SSL as '{USER}' (SCRAM-SHA-256)" in message
    assert "authentication failed (wrong username or password?)" in message
    assert "not-the-password" not in message


def test_the_import_command_connects_from_the_same_settings(secured: Secured, tmp_path: Path) -> None:
    """`marops import` reads MAROPS_KAFKA_*: right credentials publish, a wrong password
    is one clear line and exit 2 (nothing imported)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {**os.environ, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{SASL_SSL}",
           "MAROPS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "MAROPS_KAFKA_SASL_MECHANISM": "PLAIN",
           "MAROPS_KAFKA_SASL_USERNAME": USER, "MAROPS_KAFKA_SASL_PASSWORD": PASSWORD,
           "MAROPS_KAFKA_SSL_CAFILE": str(secured.certs.ca), "MAROPS_TOPIC_PREFIX": prefix}
    cli = [str(Path(sys.executable).with_name("marops")), "import", str(ROOT / "examples" / "history-example.csv")]
    ok = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stderr
    assert "published" in ok.stdout
    wrong = subprocess.run(cli, env={**env, "MAROPS_KAFKA_SASL_PASSWORD": "nope"}, capture_output=True, text=True,
                           timeout=180)
    assert wrong.returncode == 2
    assert "authentication failed" in wrong.stderr and "nothing was imported" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_settings_refuse_sasl_without_credentials() -> None:
    with pytest.raises(ValueError, match="needs a SASL mechanism"):
        GovernanceSettings(kafka_security_protocol="SASL_SSL")
    with pytest.raises(ValueError, match="needs a SASL username and password"):
        GovernanceSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN")
    with pytest.raises(ValueError, match="both the certificate and its key"):
        KafkaConnection("h:1", "SSL", ssl_certfile="/c.pem")
    env = {"MAROPS_KAFKA_BOOTSTRAP_SERVERS": "b:9096", "MAROPS_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
           "MAROPS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "MAROPS_KAFKA_SASL_USERNAME": "u",
           "MAROPS_KAFKA_SASL_PASSWORD": "p", "MAROPS_KAFKA_SSL_CHECK_HOSTNAME": "false"}
    conn = KafkaConnection.from_env(env)
    assert (conn.security_protocol, conn.sasl_mechanism, conn.ssl_check_hostname) == ("SASL_SSL", "SCRAM-SHA-512", False)
    assert "sasl_password" not in repr(conn), "the password must not be in logs of the connection"
