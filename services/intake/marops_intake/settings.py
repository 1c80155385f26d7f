"""Intake settings: environment variables INTAKE_<FIELD>, falling back to MAROPS_<FIELD>."""

from pydantic_settings import SettingsConfigDict

from marops_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    database_url: str = "postgresql://marops@127.0.0.1:15432/intake"
    http_port: int = 8001
