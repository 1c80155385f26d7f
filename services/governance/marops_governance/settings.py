"""Governance settings: environment variables GOVERNANCE_<FIELD>, falling back to MAROPS_<FIELD>."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from marops_service.notify import SmtpConfig
from marops_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", extra="ignore")

    service_name: str = "governance"
    database_url: str = "postgresql://marops@127.0.0.1:15432/governance"

    # Notifications by e-mail: the SMTP relay (no host: e-mail deliveries fail, logged, and
    # can be replayed once it is configured). Credentials come from the environment only.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "marops <marops@localhost>"
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Retries: after failed attempt n the next one waits base * 2^(n-1) seconds, at most cap;
    # after max_attempts the delivery is failed (ops_admin may replay it).
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_base_seconds: float = Field(default=30.0, gt=0)
    notify_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    notify_poll_interval: float = Field(default=2.0, gt=0)  # how often due deliveries are looked for
    # The deadline timer: how often open gates are checked for SLA reminders and breaches,
    # and how long before the SLA runs out approvers are reminded.
    deadline_check_interval: float = Field(default=60.0, gt=0)
    sla_warning_hours: float = Field(default=4.0, gt=0)

    def smtp(self) -> SmtpConfig | None:
        if not self.smtp_host:
            return None
        return SmtpConfig(host=self.smtp_host, port=self.smtp_port, sender=self.smtp_from,
                          security=self.smtp_security, username=self.smtp_username,
                          password=self.smtp_password.get_secret_value() if self.smtp_password else None,
                          timeout_seconds=self.smtp_timeout_seconds, ca_file=self.smtp_ca_file)
