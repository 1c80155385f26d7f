"""Settings shared by every service, read from environment variables.

A service's settings class sets ``env_prefix`` (``INTAKE_``); every field is read from
``<PREFIX><FIELD>`` first and falls back to ``MAROPS_<FIELD>``, so deployment-wide
values (Kafka, JWT, telemetry) are set once for all services.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from marops_events.kafka import KafkaConnection, SaslMechanism, SecurityProtocol

SHARED_PREFIX = "MAROPS_"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore")

    service_name: str = "marops"
    database_url: str = "postgresql://marops@127.0.0.1:15432/marops"
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    # TLS to PostgreSQL (libpq's names; merged into database_url unless it sets them itself)
    database_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    database_sslrootcert: str | None = None  # CA bundle for verify-ca / verify-full
    database_sslcert: str | None = None      # client certificate (certificate authentication)
    database_sslkey: str | None = None
    # false: the schema is migrated beforehand by `marops-migrate` (a Job per release); the
    # service then only checks that no migration is pending and refuses to start if one is
    migrate_on_start: bool = True

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # how every Kafka client of the service connects (see marops_events.kafka.KafkaConnection)
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None        # CA bundle the brokers' certificates must chain to
    kafka_ssl_certfile: str | None = None      # client certificate and key: mTLS
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    topic_prefix: str = ""
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int | None = None  # None: the broker's default
    run_workers: bool = True
    outbox_poll_interval: float = 1.0
    consumer_max_records: int = 500
    # /readyz answers from dependency checks run this often in the background (seconds).
    readiness_check_interval: float = 2.0
    # Housekeeping (docs/operations.md). Inbox rows go only once older than this AND below
    # the group's committed offset, so no redelivery can find its event id missing; at
    # least a day, far beyond any redelivery (a batch is redelivered within minutes).
    inbox_retention_days: int = Field(default=30, ge=1)
    # Published outbox rows are kept this long for inspection, then deleted.
    outbox_retention_hours: int = Field(default=168, ge=1)

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_body_size: int = 1_048_576  # bytes; larger request bodies get 413 before they are read
    idempotency_ttl_seconds: float = 86_400.0  # how long an Idempotency-Key is remembered
    idempotency_wait_seconds: float = 10.0  # how long a retry waits for the same key still in progress
    housekeeping_interval_seconds: float = 300.0  # expired keys are deleted this often (by the workers)

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str = "marops"
    jwt_issuer: str = "marops-local"

    # Browser origins (comma-separated, e.g. "https://console.example.com") that may call
    # this API from another origin (CORS). Empty: none; the console goes through its
    # gateway, one origin, and needs none. "*" allows any origin (bearer tokens, no cookies).
    cors_allow_origins: str = ""
    cors_max_age_seconds: int = Field(default=600, ge=0)

    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = False  # one log line per HTTP request (Prometheus counts them anyway)
    otel_exporter: Literal["none", "otlp", "console"] = "none"
    otel_endpoint: str = "http://127.0.0.1:4318"

    def kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers, security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism, sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None,
            ssl_cafile=self.kafka_ssl_cafile, ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else None,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )

    @model_validator(mode="after")
    def _kafka_connection_is_valid(self) -> ServiceSettings:
        self.kafka_connection()  # a SASL protocol without credentials fails here, at start-up
        return self

    @model_validator(mode="after")
    def _database_tls_into_url(self) -> ServiceSettings:
        """Every connection is made from database_url (pool, relay, migrations, rebuild), so
        the TLS settings go into it once, as the query parameters asyncpg reads."""
        tls = {"sslmode": self.database_sslmode, "sslrootcert": self.database_sslrootcert,
               "sslcert": self.database_sslcert, "sslkey": self.database_sslkey}
        tls = {k: v for k, v in tls.items() if v}
        if tls:
            parts = urlsplit(self.database_url)
            query = dict(parse_qsl(parts.query))
            merged = {**tls, **query}  # a value written in the URL itself wins
            self.database_url = urlunsplit(parts._replace(query=urlencode(merged)))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix=SHARED_PREFIX)
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip()]
