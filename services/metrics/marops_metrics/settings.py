"""Metrics settings: environment variables METRICS_<FIELD>, falling back to MAROPS_<FIELD>."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from marops_service.settings import ServiceSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    service_name: str = "metrics"
    database_url: str = "postgresql://marops@127.0.0.1:15432/metrics"
    http_port: int = 8004
    # Larger than the chassis' default: a batch's statements are one per table whatever
    # its size, so the read model's fixed cost per batch is shared by more events.
    consumer_max_records: int = 2000
    # The weekly review pack (review_packs): how often the worker looks for an ended week
    # whose pack is not published yet.
    review_pack_interval: float = Field(default=300.0, gt=0)
    # A rebuild of at least this many records decodes them in worker processes (this many;
    # 0: in the rebuild's own process) while its own process fetches and loads.
    rebuild_decoders: int = 2
    rebuild_parallel_from: int = 50_000
