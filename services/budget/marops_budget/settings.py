"""Budget settings: environment variables BUDGET_<FIELD>, falling back to MAROPS_<FIELD>."""

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from marops_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BUDGET_", extra="ignore")

    service_name: str = "budget"
    database_url: str = "postgresql://marops@127.0.0.1:15432/budget"
    http_port: int = 8003

    # Percentages of a campaign's commitment whose crossing publishes BudgetThresholdExceeded
    # (once each). BUDGET_THRESHOLD_PERCENTS='[80,100,110]'.
    threshold_percents: list[int] = Field(default_factory=lambda: [80, 100, 110])
    # How far (percentage points) spend share may drift from the elapsed share of the
    # flight before a campaign is reported as under- or over-pacing.
    pacing_tolerance_percent: int = Field(default=10, ge=0, le=100)
    # A line's run-out forecast is announced (BudgetLineRunOutForecast) when its run-out day
    # comes within this many days, leaves that window, or moves inside it by at least
    # run_out_material_days.
    run_out_horizon_days: int = Field(default=30, ge=1, le=3660)
    run_out_material_days: int = Field(default=7, ge=1, le=3660)
    # How often the workers re-evaluate every committed line's forecast (time passing alone
    # moves a run-out day into the horizon).
    run_out_sweep_interval_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("threshold_percents")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if any(p < 1 or p > 10_000 for p in value):
            raise ValueError("threshold percentages must be between 1 and 10000")
        return sorted(set(value))
