"""Settings shared by every service, read from environment variables.

A service's settings class sets ``env_prefix`` (``INTAKE_``); every field is read from
``<PREFIX><FIELD>`` first and falls back to ``MAROPS_<FIELD>``, so deployment-wide
values (Kafka, JWT, telemetry) are set once for all services.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

SHARED_PREFIX = "MAROPS_"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore")

    service_name: str = "marops"
    database_url: str = "postgresql://marops@127.0.0.1:15432/marops"
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = ""
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    run_workers: bool = True
    outbox_poll_interval: float = 1.0
    consumer_max_records: int = 500

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str = "marops"
    jwt_issuer: str = "marops-local"

    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter: Literal["none", "otlp", "console"] = "none"
    otel_endpoint: str = "http://127.0.0.1:4318"

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
