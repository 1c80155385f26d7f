"""Every refusal code a service's use cases can raise has its answer at that service's edge.

A code missing from ``api.REFUSALS`` would surface as a 500 the first time a rule said no.
"""

from __future__ import annotations

from enum import StrEnum

import pytest

from marops_budget import api as budget_api
from marops_budget.domain import BudgetRefusal
from marops_governance import api as governance_api
from marops_governance.domain import RefusalCode
from marops_intake import api as intake_api
from marops_intake.domain.refusals import IntakeRefusal
from marops_metrics import api as metrics_api
from marops_metrics.refusals import MetricsRefusal

EDGES: list[tuple[str, type[StrEnum], dict]] = [
    ("intake", IntakeRefusal, intake_api.REFUSALS),
    ("governance", RefusalCode, governance_api.REFUSALS),
    ("budget", BudgetRefusal, budget_api.REFUSALS),
    ("metrics", MetricsRefusal, metrics_api.REFUSALS),
]


@pytest.mark.parametrize(("service", "codes", "answers"), EDGES, ids=[e[0] for e in EDGES])
def test_every_refusal_code_is_answered(service: str, codes: type[StrEnum], answers: dict) -> None:
    missing = sorted(code.value for code in codes if code not in answers)
    assert missing == [], f"{service}: refusal codes without an answer in api.REFUSALS: {missing}"
    for code, answer in answers.items():
        assert 400 <= answer.status < 500, f"{service}: {code} is answered {answer.status}, not a client error"
