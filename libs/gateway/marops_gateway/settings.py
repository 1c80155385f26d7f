"""Gateway settings: environment variables ``GATEWAY_<FIELD>``.

The JWT settings used to mint development tokens are the platform's own
(``MAROPS_JWT_SECRET``, ``MAROPS_JWT_AUDIENCE``, ``MAROPS_JWT_ISSUER``), read through the
chassis' ``ServiceSettings`` so a minted token is exactly what the services verify.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

# console/dist of the repository this package is installed from (editable install)
DEFAULT_STATIC_DIR = Path(__file__).resolve().parents[3] / "console" / "dist"
SERVICES = ("intake", "governance", "budget", "metrics")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    intake_url: str = "http://127.0.0.1:8001"
    governance_url: str = "http://127.0.0.1:8002"
    budget_url: str = "http://127.0.0.1:8003"
    metrics_url: str = "http://127.0.0.1:8004"
    static_dir: Path = DEFAULT_STATIC_DIR
    # Off by default: POST /api/dev/token mints a token for any persona, so it may exist
    # only on a machine that runs the platform with its own local secret (`make run`).
    dev_tokens: bool = False
    # How a person outside development gets a token: shown on the sign-in page (an OIDC
    # provider's login URL, or a portal that issues marops tokens). Empty: none shown.
    idp_name: str = ""
    idp_login_url: str = ""
    upstream_timeout_seconds: float = 30.0

    def upstream(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")
