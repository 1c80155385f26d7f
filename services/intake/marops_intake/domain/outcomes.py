"""Results of a campaign's KPIs as of a date (``KpiResultsRecorded``): who may report them and
what a report must hold.

- The campaign's owner or ops_admin report results; so does another system with a
  ``service`` token whose ``source_systems`` claim names the report's source system (as for
  spend in budget). Other systems may also publish the event straight onto Kafka.
- Only a launched or completed campaign has results, and only for the KPIs of its latest
  submitted version (matched by key, case-insensitively), each at most once per report.
- ``(source_system, source_reference)`` names the report: sending it again with the same
  content is harmless, with other content it is a conflict.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from marops_events import contracts as c
from marops_service.access import CampaignParties
from marops_service.auth import Principal, Role
from marops_service.refusals import Refusal

from .completeness import Finding
from .refusals import IntakeRefusal
from .status import Status

REPORTABLE = frozenset({Status.launched, Status.completed})


def is_reporting_system(who: Principal, source_system: str) -> bool:
    """A service account reporting for a source system it names (checked before the campaign
    is looked up: such accounts read no campaign, so they learn nothing from a 404)."""
    if who.has(Role.service) and not who.is_admin and source_system not in who.source_systems:
        raise Refusal(IntakeRefusal.forbidden,
                      f"this service account may report results for {sorted(who.source_systems) or 'no source system'}"
                      f", not {source_system!r} (the token's source_systems claim)")
    return who.has(Role.service) and source_system in who.source_systems


def may_report(who: Principal, campaign: CampaignParties, source_system: str) -> None:
    if who.is_admin or (campaign.owner is not None and who.subject == campaign.owner):
        return
    if is_reporting_system(who, source_system):
        return
    raise Refusal(IntakeRefusal.forbidden, "only the campaign's owner, ops_admin or its analytics system may "
                                           "report its results")


def report(status: str, kpis: list[c.Kpi], *, campaign_id: str, recorded_by: str, source_system: str,
           source_reference: str, as_of: dt.date, results: list[dict[str, Any]]) -> c.KpiResultsRecorded:
    if Status(status) not in REPORTABLE:
        raise Refusal(IntakeRefusal.conflict, f"results are reported for launched or completed campaigns; this one "
                                              f"is {status}", status_now=status)
    by_key = {k.metric.strip().lower(): k for k in kpis}
    errors, seen, actuals = [], set(), []
    for i, result in enumerate(results):
        key = result["metric"].strip().lower()
        kpi = by_key.get(key)
        if kpi is None:
            errors.append(Finding(f"results.{i}.metric", "invalid", f"{result['metric']!r} is not a KPI of this "
                                                                    f"campaign ({', '.join(by_key)})").to_json())
        elif key in seen:
            errors.append(Finding(f"results.{i}.metric", "invalid",
                                  f"{kpi.metric!r} has more than one result").to_json())
        else:
            seen.add(key)
            actuals.append(c.KpiActual(metric=kpi.metric.strip(), actual=Decimal(result["actual"]),
                                       unit=kpi.unit.strip()))
    if errors:
        raise Refusal(IntakeRefusal.invalid, "each result must name a KPI of the campaign, once", errors=errors)
    return c.KpiResultsRecorded(campaign_id=campaign_id, source_system=source_system,
                                source_reference=source_reference, as_of=as_of, results=actuals,
                                recorded_by=recorded_by)


def same_report(stored: Any, sent: c.KpiResultsRecorded) -> None:
    """A re-sent report must say what the stored one says."""
    def content(campaign_id: str, as_of: dt.date, results: list[Any]) -> tuple[Any, ...]:
        return campaign_id, as_of, sorted((r["metric"], Decimal(str(r["actual"]))) for r in results)

    if content(stored["campaign_id"], stored["as_of"], stored["results"]) != content(
            sent.campaign_id, sent.as_of, [r.model_dump() for r in sent.results]):
        raise Refusal(IntakeRefusal.conflict,
                      f"results report {sent.source_system}/{sent.source_reference} was already recorded with other "
                      "content")
