"""The metric catalogue: KPI definitions (key, name, unit, direction, kind, description) that
briefs pick their KPIs from, versioned like policy.

ops_admin publishes a whole new version; versions are never edited. Each one is announced
as ``MetricCatalogueChanged`` carrying every definition, so intake (and anyone) keeps only
the highest version and never needs to ask governance.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from marops_events import contracts as c
from marops_service.text import NOT_BLANK

CATALOGUE_LOCK = 0x6B7069  # "kpi": one publisher at a time, so versions are consecutive

Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$", examples=["qualified_leads"],
                           description="What briefs name the KPI by (lower case, digits, _ . -)")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)]


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: Name
    unit: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[!-~]+$")] = Field(
        examples=["leads"], description="Printable ASCII, no spaces; an ISO 4217 code (EUR) makes the KPI monetary: "
                                        "return on spend uses it")
    direction: c.KpiDirection = c.KpiDirection.increase
    kind: c.KpiKind
    description: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None

    def contract(self) -> c.KpiDefinition:
        return c.KpiDefinition(**self.model_dump())


class CatalogueDocument(BaseModel):
    """A whole catalogue version: every definition, keys unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definitions: list[DefinitionIn] = Field(max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> CatalogueDocument:
        keys = [d.key for d in self.definitions]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"KPI keys must be unique; repeated: {', '.join(repeated)}")
        return self
