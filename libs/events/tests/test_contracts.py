"""The published event contracts: generated files, compatibility, AsyncAPI, envelope."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from marops_events import contracts as c
from marops_events import contracts_gen as gen
from marops_events import registry
from marops_events.compatibility import breaking_changes
from marops_events.envelope import Envelope
from marops_events.registry import EVENTS, EventSpec, InvalidEvent

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _money(amount: str = "1250.00", currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


_GATE = {
    "campaign_id": "cmp-1",
    "brief_version": 1,
    "policy_version": 3,
    "gate_id": "gate-budget",
    "gate_name": "Budget",
    "gate_kind": "budget",
    "gate_position": 2,
    "is_last_gate": True,
    "actionable_at": "2026-03-01T08:00:00Z",
    "sla_hours": 48,
    "decided_by": "u-approver",
    "amount": _money(),
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "BriefSubmitted": {
        "campaign_id": "cmp-1",
        "version": 1,
        "title": "Spring launch",
        "team": "growth",
        "owner": "u-owner",
        "requester": "u-requester",
        "objective": "More qualified leads",
        "target_audience": "SMB owners",
        "channels": ["email", "paid_search"],
        "target_launch_date": "2026-04-01",
        "flight_start": "2026-04-01",
        "flight_end": "2026-06-30",
        "kpis": [{"metric": "qualified_leads", "target": "500", "unit": "leads", "timeframe": "90 days"}],
        "tracking_plan": {"campaign_code": "spring-26", "conversion_events": ["signup"]},
        "budget_request": {"amount": _money(), "budget_line_id": "line-1"},
        "raci": {"responsible": ["u-owner"], "accountable": "u-owner"},
    },
    "CampaignCancelled": {"campaign_id": "cmp-1", "cancelled_by": "u-owner", "reason": "Market changed"},
    "CampaignCompleted": {
        "campaign_id": "cmp-1",
        "completed_by": "u-owner",
        "results": [{"metric": "qualified_leads", "target": "500", "actual": "512.5", "unit": "leads"}],
    },
    "RetrospectiveRecorded": {
        "campaign_id": "cmp-1",
        "revision": 1,
        "recorded_by": "u-owner",
        "team": "growth",
        "channels": ["email"],
        "what_worked": ["Subject lines tested early"],
        "what_did_not_work": ["Landing page late"],
        "lessons": ["Book the landing page with the brief"],
        "actions": [{"action": "Template for landing pages", "owner": "u-owner", "due_on": "2026-07-15"}],
    },
    "ChangeRequested": {
        "campaign_id": "cmp-1",
        "change_id": "chg-1",
        "base_version": 1,
        "changes": ["budget", "channels"],
        "reason": "Early results are strong: add paid social and more money",
        "requested_by": "u-owner",
        "brief": {
            "campaign_id": "cmp-1", "version": 2, "title": "Spring launch", "team": "growth", "owner": "u-owner",
            "requester": "u-owner", "objective": "More qualified leads", "channels": ["email", "paid_social"],
            "target_launch_date": "2026-04-01", "flight_start": "2026-04-01", "flight_end": "2026-06-30",
            "budget_request": {"amount": _money("25000.00"), "budget_line_id": "line-1"},
        },
    },
    "CampaignPaused": {"campaign_id": "cmp-1", "pause": 1, "paused_by": "u-owner", "reason": "Stock shortage"},
    "CampaignResumed": {"campaign_id": "cmp-1", "pause": 1, "resumed_by": "u-owner", "reason": "Stock is back"},
    "ChangeDecided": {
        "campaign_id": "cmp-1",
        "change_id": "chg-1",
        "brief_version": 2,
        "outcome": "approved",
        "decided_by": "u-finance",
        "gates": ["budget_approval", "brand_legal"],
        "policy_version": 3,
    },
    "GateApproved": {**_GATE, "approvers": ["u-approver"]},
    "SlaBreached": {k: v for k, v in {**_GATE, "due_at": "2026-03-03T08:00:00Z"}.items()
                    if k not in ("decided_by", "amount", "is_last_gate")},
    "GateEscalated": {**{k: v for k, v in {**_GATE, "due_at": "2026-03-03T08:00:00Z"}.items()
                         if k not in ("decided_by", "amount", "is_last_gate")}, "escalation_role": "ops_admin"},
    "GateRejected": {**_GATE, "kind": "changes_requested", "reason": "Tracking plan missing"},
    "CampaignLaunched": {
        "campaign_id": "cmp-1",
        "brief_version": 2,
        "launched_by": "u-owner",
        "readiness": {
            "all_gates_approved": True,
            "kpis_with_targets": True,
            "tracking_plan_defined": True,
            "budget_committed": True,
            "committed": _money(),
            "policy_version": 3,
        },
    },
    "BudgetReserved": {"campaign_id": "cmp-1", "brief_version": 1, "budget_line_id": "line-1", "amount": _money()},
    "BudgetReservationRejected": {
        "campaign_id": "cmp-1",
        "brief_version": 1,
        "budget_line_id": "line-1",
        "requested": _money(),
        "reason_code": "insufficient_funds",
        "reason": "Only 1000.00 EUR left on line-1",
    },
    "BudgetCommitted": {"campaign_id": "cmp-1", "brief_version": 1, "budget_line_id": "line-1", "amount": _money()},
    "BudgetReleased": {"campaign_id": "cmp-1", "budget_line_id": "line-1", "amount": _money(), "reason": "cancelled"},
    "SpendRecorded": {
        "campaign_id": "cmp-1",
        "source_system": "google-ads",
        "source_reference": "invoice-2026-0042",
        "amount": _money("310.45"),
        "incurred_on": "2026-04-03",
        "budget_line_id": "line-1",
    },
    "BudgetReallocated": {
        "from_line_id": "line-1",
        "to_line_id": "line-2",
        "amount": _money("200.00"),
        "reason": "Shift to video",
        "reallocated_by": "u-finance",
    },
    "BudgetThresholdExceeded": {
        "campaign_id": "cmp-1",
        "budget_line_id": "line-1",
        "threshold_percent": 80,
        "committed": _money("1000.00"),
        "spent": _money("812.00"),
    },
    "SpendReconciliationChanged": {
        "campaign_id": "cmp-1",
        "source_system": "google-ads",
        "source_reference": "invoice-2026-0042",
        "amount": _money("310.45", "USD"),
        "revision": 1,
        "status": "unreconciled",
        "reason_code": "currency_mismatch",
        "reason": "spend is in USD but budget line 'line-1' is in EUR",
    },
    "BudgetLineRunOutForecast": {
        "budget_line_id": "line-1",
        "revision": 1,
        "as_of": "2026-04-10",
        "run_out_on": "2026-04-28",
        "within_horizon": True,
        "horizon_days": 30,
        "amount": _money("10000.00"),
        "committed": _money("10000.00"),
        "spent": _money("3000.00"),
        "forecast_spend": _money("12000.00"),
    },
    "KpiResultsRecorded": {
        "campaign_id": "cmp-1",
        "source_system": "analytics",
        "source_reference": "weekly-2026-03-09",
        "as_of": "2026-03-09",
        "results": [{"metric": "qualified_leads", "actual": "412"}],
    },
    "MetricCatalogueChanged": {
        "version": 2,
        "definitions": [{"key": "qualified_leads", "name": "Qualified leads", "unit": "leads",
                         "direction": "increase", "kind": "outcome"}],
        "published_by": "u-ops",
    },
    "ReviewPackPublished": {
        "pack_id": "week-2026-03-02",
        "period": "week",
        "start": "2026-03-02",
        "end": "2026-03-08",
        "as_of": "2026-03-09T06:00:00Z",
        "path": "/reviews?period=week&start=2026-03-02",
        "headline": [{"metric": "launches", "current": "3", "previous": "1"},
                     {"metric": "on_time_rate", "current": "0.6666666666666666", "previous": None},
                     {"metric": "spend_EUR", "current": "12500.00", "previous": "0"}],
        "sections": {"gates_overdue": 1, "sla_breaches": 2, "launches": 3, "late_launches": 1, "off_pace": 0,
                     "blocking_risks": 1, "completed_without_results": 0, "completed_without_retrospective": 1,
                     "rejections": 2},
    },
    "RiskChanged": {
        "campaign_id": "cmp-1",
        "risk_id": "2b7c9a4e-1f0d-4c1e-9d57-0f7e3c2a1b11",
        "revision": 1,
        "description": "Agency capacity",
        "owner": "u-owner",
        "probability": 4,
        "impact": 4,
        "score": 16,
        "status": "open",
        "blocks_launch": True,
        "blocking_score": 15,
        "changed_by": "u-owner",
    },
}


def example(event_type: str) -> BaseModel:
    return EVENTS[event_type].model.model_validate(EXAMPLES[event_type])


def example_envelope(event_type: str) -> dict[str, Any]:
    event = registry.new_event(example(event_type), source="marops/test", time=T0)
    return json.loads(event.to_json())


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _load_json(path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load(gen.ASYNCAPI_PATH.read_text(encoding="utf-8"))


# --- generated files ------------------------------------------------------------------


def test_committed_contracts_are_up_to_date_with_the_models() -> None:
    stale = [str(p.relative_to(gen.CONTRACTS_DIR)) for p in gen.stale_files()]
    assert not stale, f"event contracts are stale, run make contracts: {stale}"


def test_generation_is_deterministic() -> None:
    first, second = gen.render(), gen.render()
    assert first == second
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_every_event_has_a_schema_a_channel_and_a_released_baseline(asyncapi: dict[str, Any]) -> None:
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    for spec in EVENTS.values():
        name = f"{spec.type}.v{spec.version}.json"
        assert (gen.SCHEMAS_DIR / name).is_file(), f"no schema for {spec.type}"
        assert (gen.RELEASED_DIR / name).is_file(), f"no released baseline for {spec.type} (--release)"
        assert spec.base_topic in addresses, f"no channel for {spec.base_topic}"
        assert spec.base_topic + registry.DLQ_SUFFIX in addresses, f"no DLQ channel for {spec.type}"
        assert spec.type in gen.consumers(), f"consumers of {spec.type} are not documented"


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_schema_is_compatible_with_its_released_baseline(event_type: str) -> None:
    spec = EVENTS[event_type]
    released = _load_json(gen.RELEASED_DIR / f"{spec.type}.v{spec.version}.json")
    assert breaking_changes(released, gen.event_schema(spec)) == []


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_schema_identity(event_type: str) -> None:
    spec = EVENTS[event_type]
    schema = _load_json(gen.SCHEMAS_DIR / f"{spec.type}.v1.json")
    assert schema["$id"] == f"urn:marops:event:{spec.type}:v1"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] and schema["description"]
    assert schema["properties"]["type"]["const"] == spec.type
    jsonschema.Draft202012Validator.check_schema(schema)


def test_documented_partition_key_matches_the_registry() -> None:
    for event_type in EVENTS:
        data = example(event_type)
        field = gen.partition_key_field(EVENTS[event_type])
        assert EVENTS[event_type].key(data) == getattr(data, field), event_type


def test_decimals_are_strings_with_a_pattern_never_numbers() -> None:
    money = _load_json(gen.SCHEMAS_DIR / "SpendRecorded.v1.json")["$defs"]["Money"]["properties"]["amount"]
    assert money["type"] == "string"
    assert money["pattern"] == gen.DECIMAL_PATTERN
    for text in ("0", "-0", "12.50", "-310.45", "1E+3", "1.5E-7", "0E-8"):
        assert re.search(gen.DECIMAL_PATTERN, text), text
        assert str(Decimal(text)) == text
    for text in ("12.", ".5", "+1", "1e3", "NaN", "Infinity", "01", "1,5", " 1"):
        assert not re.search(gen.DECIMAL_PATTERN, text), text


def test_check_mode_lists_stale_files_and_exits_1(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(gen, "SCHEMAS_DIR", tmp_path / "schemas")
    monkeypatch.setattr(gen, "ASYNCAPI_PATH", tmp_path / "asyncapi.yaml")
    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "run make contracts" in err and "SpendRecorded.v1.json" in err and "asyncapi.yaml" in err

    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    (tmp_path / "schemas" / "Gone.v1.json").write_text("{}\n")  # an event that no longer exists
    (tmp_path / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "Gone.v1.json" in err and "asyncapi.yaml" in err


def test_release_only_appends(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(gen, "RELEASED_DIR", tmp_path)
    kept = tmp_path / "SpendRecorded.v1.json"
    kept.write_text('{"kept": true}\n')
    added = gen.release()
    assert kept not in added and kept.read_text() == '{"kept": true}\n'
    assert len(added) == len(EVENTS) - 1


# --- AsyncAPI -------------------------------------------------------------------------


def _refs(node: Any, path: str = "#") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = [(path, node["$ref"])] if isinstance(node.get("$ref"), str) else []
        for key, value in node.items():
            found += _refs(value, f"{path}/{key}")
        return found
    if isinstance(node, list):
        return [ref for i, item in enumerate(node) for ref in _refs(item, f"{path}/{i}")]
    return []


def _deref(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"not a local $ref: {ref}"
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and token in node, f"unresolvable $ref {ref}"
        node = node[token]
    return node


def test_asyncapi_document_is_structurally_valid(asyncapi: dict[str, Any]) -> None:
    doc = asyncapi
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "marops events" and doc["info"]["version"]
    assert doc["defaultContentType"] == "application/cloudevents+json"

    # every $ref resolves inside the document (self-contained)
    refs = _refs(doc)
    assert refs
    for where, ref in refs:
        assert _deref(doc, ref) is not None, where

    key = re.compile(r"^[A-Za-z0-9_\-]+$")
    component_key = re.compile(r"^[A-Za-z0-9.\-_]+$")
    for section in ("channels", "operations"):
        assert all(key.match(k) for k in doc[section]), section
    for section in ("schemas", "messages"):
        assert all(component_key.match(k) for k in doc["components"][section]), section

    # every channel's messages exist and are messages with a payload
    for channel_id, channel in doc["channels"].items():
        assert channel["address"] and channel["messages"], channel_id
        for message_ref in channel["messages"].values():
            message = _deref(doc, message_ref["$ref"])
            assert "payload" in message and "headers" in message, channel_id

    # every operation references an existing channel and only that channel's messages
    for operation_id, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), operation_id
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        _deref(doc, channel_ref)
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(channel_ref + "/messages/"), operation_id
            _deref(doc, message_ref["$ref"])


def test_asyncapi_describes_producers_consumers_keys_and_dlq(asyncapi: dict[str, Any]) -> None:
    doc = asyncapi
    by_address = {ch["address"]: (cid, ch) for cid, ch in doc["channels"].items()}
    ops = doc["operations"].values()
    for spec in EVENTS.values():
        channel_id, channel = by_address[spec.base_topic]
        key_field = gen.PARTITION_KEY_FIELDS.get(spec.type, "campaign_id")
        assert key_field in channel["description"]
        assert ("campaign id" in channel["description"]) == (key_field == "campaign_id")
        sends = [o for o in ops if o["channel"]["$ref"] == f"#/channels/{channel_id}" and o["action"] == "send"]
        receives = [o for o in ops if o["channel"]["$ref"] == f"#/channels/{channel_id}" and o["action"] == "receive"]
        assert [o["x-producer"] for o in sends] == [spec.producer]
        assert receives and receives[0]["x-consumers"] == list(gen.consumers()[spec.type])
        # metrics reads every event but what it publishes itself
        assert ("metrics" in receives[0]["x-consumers"]) == (spec.producer != "metrics")

        message = _deref(doc, channel["messages"][spec.type]["$ref"])
        headers = _deref(doc, message["headers"]["$ref"])["properties"]
        assert {"traceparent", "tracestate", "ce_type", "ce_id", "content-type"} <= headers.keys()
        payload = _deref(doc, message["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == spec.type

        dlq_id, dlq = by_address[spec.base_topic + ".dlq"]
        (dlq_message_ref,) = dlq["messages"].values()
        dlq_headers = _deref(doc, _deref(doc, dlq_message_ref["$ref"])["headers"]["$ref"])
        assert set(dlq_headers["required"]) == {
            "dlq.reason",
            "dlq.original.topic",
            "dlq.original.partition",
            "dlq.original.offset",
            "dlq.consumer.group",
            "dlq.failed.at",
        }

    description = doc["info"]["description"]
    for fact in ("at least once", "envelope `id`", "source_reference", "JSON", "UTC", "marops/import", "historical"):
        assert fact in description, fact


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_inlined_asyncapi_schema_validates_the_example(asyncapi: dict[str, Any], event_type: str) -> None:
    spec = EVENTS[event_type]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": asyncapi["components"],
        "$ref": f"#/components/schemas/{spec.type}.v{spec.version}",
    }
    _validator(schema).validate(example_envelope(event_type))


# --- examples against the JSON Schemas --------------------------------------------------


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_example_event_validates_against_its_schema(event_type: str) -> None:
    schema = _load_json(gen.SCHEMAS_DIR / f"{event_type}.v1.json")
    _validator(schema).validate(example_envelope(event_type))


def _errors(event_type: str, mutate) -> list[str]:
    instance = example_envelope(event_type)
    mutate(instance["data"])
    schema = _load_json(gen.SCHEMAS_DIR / f"{event_type}.v1.json")
    return [e.message for e in _validator(schema).iter_errors(instance)]


def test_invalid_events_fail_their_schema() -> None:
    def wrong_enum(data):
        data["channels"] = ["email", "telepathy"]

    def float_money(data):
        data["amount"]["amount"] = 310.45

    def money_without_currency(data):
        del data["amount"]["currency"]

    def lowercase_currency(data):
        data["amount"]["currency"] = "eur"

    def date_time_for_date(data):
        data["incurred_on"] = "2026-04-03T10:00:00Z"

    assert any("telepathy" in e for e in _errors("BriefSubmitted", wrong_enum))
    assert any("310.45 is not of type 'string'" in e for e in _errors("SpendRecorded", float_money))
    assert any("'currency' is a required property" in e for e in _errors("SpendRecorded", money_without_currency))
    assert _errors("SpendRecorded", lowercase_currency)
    assert _errors("SpendRecorded", date_time_for_date)

    wrong_type = example_envelope("SpendRecorded") | {"type": "BudgetCommitted"}
    schema = _load_json(gen.SCHEMAS_DIR / "SpendRecorded.v1.json")
    assert not _validator(schema).is_valid(wrong_type)


# --- compatibility: deliberately broken copies of the models ------------------------------


def _schema(model: type[BaseModel], event_type: str = "SpendRecorded") -> dict[str, Any]:
    """The schema of a modified copy, made by the same generator as the published one."""
    original = EVENTS[event_type]
    spec = EventSpec(type=event_type, model=model, producer=original.producer, key=original.key)
    return gen.event_schema(spec)


def _released(event_type: str = "SpendRecorded") -> dict[str, Any]:
    return _load_json(gen.RELEASED_DIR / f"{event_type}.v1.json")


class SpendRecordedRenamed(c.Contract):
    campaign_id: c.Identifier
    source_system: c.Identifier
    source_ref: c.Identifier  # was source_reference
    amount: c.Money
    incurred_on: dt.date
    budget_line_id: c.Identifier | None = None
    corrects_reference: c.Identifier | None = None
    description: str | None = None


class FloatMoney(c.Contract):
    amount: float
    currency: c.Currency


class SpendRecordedFloatAmount(c.Contract):
    campaign_id: c.Identifier
    source_system: c.Identifier
    source_reference: c.Identifier
    amount: FloatMoney
    incurred_on: dt.date
    budget_line_id: c.Identifier | None = None
    corrects_reference: c.Identifier | None = None
    description: str | None = None


class SpendRecordedWithoutIncurredOn(c.Contract):
    campaign_id: c.Identifier
    source_system: c.Identifier
    source_reference: c.Identifier
    amount: c.Money
    budget_line_id: c.Identifier | None = None
    corrects_reference: c.Identifier | None = None
    description: str | None = None


class SpendRecordedIncurredAt(c.Contract):
    campaign_id: c.Identifier
    source_system: c.Identifier
    source_reference: c.Identifier
    amount: c.Money
    incurred_on: AwareDatetime  # was a date
    budget_line_id: c.Identifier | None = None
    corrects_reference: c.Identifier | None = None
    description: str | None = None


class SpendRecordedLineRequired(c.Contract):
    campaign_id: c.Identifier
    source_system: c.Identifier
    source_reference: c.Identifier
    amount: c.Money
    incurred_on: dt.date
    budget_line_id: c.Identifier  # was optional and nullable
    corrects_reference: c.Identifier | None = None
    description: str | None = None


class SpendRecordedWithOptionalField(c.SpendRecorded):
    purchase_order: c.Identifier | None = Field(default=None, description="PO number, if any")


class SpendRecordedWithRequiredField(c.SpendRecorded):
    purchase_order: c.Identifier


NarrowChannel = StrEnum("Channel", [(m.name, m.value) for m in c.Channel if m is not c.Channel.pr])
WiderChannel = StrEnum("Channel", [*((m.name, m.value) for m in c.Channel), ("podcast", "podcast")])


class BriefSubmittedNarrowChannels(c.BriefSubmitted):
    channels: list[NarrowChannel] = Field(min_length=1)  # type: ignore[valid-type]


class BriefSubmittedWiderChannels(c.BriefSubmitted):
    channels: list[WiderChannel] = Field(min_length=1)  # type: ignore[valid-type]


def test_the_unmodified_model_is_compatible_with_itself() -> None:
    assert breaking_changes(_released(), _schema(c.SpendRecorded)) == []


def test_renamed_field_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedRenamed))
    assert any(ch.startswith("$.data.source_reference: required field removed") for ch in changes), changes
    assert any(ch.startswith("$.data.source_ref: new required field added") for ch in changes), changes
    assert "renamed to 'source_ref'?" in " ".join(changes)


def test_money_as_float_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedFloatAmount))
    assert changes == ["$.data.amount.amount: type changed from string (pattern " + repr(gen.DECIMAL_PATTERN) + ") to number"]


def test_removed_enum_value_is_breaking() -> None:
    changes = breaking_changes(_released("BriefSubmitted"), _schema(BriefSubmittedNarrowChannels, "BriefSubmitted"))
    assert changes == ["$.data.channels[]: enum value 'pr' removed"]


def test_removed_required_field_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedWithoutIncurredOn))
    assert changes == ["$.data.incurred_on: required field removed"]


def test_date_to_date_time_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedIncurredAt))
    assert changes == ["$.data.incurred_on: format changed from 'date' to 'date-time'"]


def test_new_required_field_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedWithRequiredField))
    assert changes == ["$.data.purchase_order: new required field added: events of old producers lack it"]


def test_narrowed_nullability_is_breaking() -> None:
    changes = breaking_changes(_released(), _schema(SpendRecordedLineRequired))
    assert "$.data.budget_line_id: optional field became required: events of old producers may lack it" in changes
    assert any(ch.startswith("$.data.budget_line_id: no longer nullable (anyOf narrowed)") for ch in changes)
    # and the other way round: making a non-null field nullable breaks old consumers
    widened = breaking_changes(_schema(SpendRecordedLineRequired), _released())
    assert any(ch.startswith("$.data.budget_line_id: became nullable") for ch in widened)
    assert any(ch.startswith("$.data.budget_line_id: required field no longer required") for ch in widened)


def test_optional_field_and_enum_value_additions_are_compatible() -> None:
    assert breaking_changes(_released(), _schema(SpendRecordedWithOptionalField)) == []
    assert breaking_changes(_released("BriefSubmitted"), _schema(BriefSubmittedWiderChannels, "BriefSubmitted")) == []


def test_removing_an_optional_field_is_breaking() -> None:
    changes = breaking_changes(_schema(SpendRecordedWithOptionalField), _released())
    assert changes == ["$.data.purchase_order: optional field removed"]


def test_breaking_changes_on_hand_written_schemas() -> None:
    old = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "c": {"type": "integer", "minimum": 1},
            "d": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["a"],
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}},
    }
    new = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/Renamed"},
            "b": {"type": "string"},
            "c": {"type": "integer", "minimum": 0},
            "d": {"type": "array", "items": {"type": "integer"}},
            "e": {"type": "string"},
        },
        "required": ["a"],
        "$defs": {"Renamed": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}},
    }
    assert breaking_changes(old, new) == [
        "$.b: anyOf narrowed: integer is no longer accepted",
        "$.c: minimum changed from 1 to 0",
        "$.d[]: type changed from string to integer",
    ]
    with pytest.raises(ValueError, match="unresolvable"):
        breaking_changes({"$ref": "#/$defs/Missing"}, {})

    recursive = {"$ref": "#/$defs/N", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}}
    assert breaking_changes(recursive, recursive) == []


# --- envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_envelope_round_trip(event_type: str) -> None:
    data = example(event_type)
    event = registry.new_event(data, source="marops/test", time=T0, causation_id="req-1")
    decoded = registry.decode(event.to_json())
    assert decoded.data == data
    assert decoded == event
    assert decoded.subject == registry.partition_key(event) == EVENTS[event_type].key(data)
    assert decoded.type == event_type and decoded.correlationid == decoded.subject


def test_spend_round_trip_keeps_decimal_exactly() -> None:
    event = registry.new_event(example("SpendRecorded"), source="marops/budget", time=T0)
    raw = json.loads(event.to_json())
    assert raw["data"]["amount"] == {"amount": "310.45", "currency": "EUR"}
    assert raw["time"] == "2026-03-02T09:30:00Z"
    assert "causationid" not in raw and "dataschema" not in raw  # None attributes are left out
    amount = registry.decode(event.to_json()).data.amount.amount
    assert amount == Decimal("310.45") and str(amount) == "310.45"


def test_unknown_fields_in_data_and_envelope_are_tolerated() -> None:
    raw = example_envelope("SpendRecorded")
    raw["data"]["future_field"] = {"nested": [1, 2]}
    raw["data"]["amount"]["future_money_field"] = "x"
    raw["partitionkey"] = "cmp-1"  # a CloudEvents extension we do not know
    decoded = registry.decode(json.dumps(raw).encode())
    assert decoded.data == example("SpendRecorded")
    assert "future_field" not in decoded.to_dict()["data"]


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError):
        registry.new_event(example("SpendRecorded"), source="marops/test", time=dt.datetime(2026, 3, 2, 9, 30))
    raw = example_envelope("SpendRecorded") | {"time": "2026-03-02T09:30:00"}
    with pytest.raises(InvalidEvent, match="time"):
        registry.decode(json.dumps(raw))
    gate = example_envelope("GateApproved")
    gate["data"]["actionable_at"] = "2026-03-01T08:00:00"
    with pytest.raises(InvalidEvent, match="data.actionable_at"):
        registry.decode(json.dumps(gate))


def test_non_utc_times_are_normalised_to_utc() -> None:
    cet = dt.timezone(dt.timedelta(hours=2))
    event = registry.new_event(example("SpendRecorded"), source="marops/test", time=dt.datetime(2026, 3, 2, 11, 30, tzinfo=cet))
    assert event.time == T0 and event.time.utcoffset() == dt.timedelta(0)
    assert json.loads(event.to_json())["time"] == "2026-03-02T09:30:00Z"

    raw = example_envelope("GateApproved") | {"time": "2026-03-02T04:30:00-05:00"}
    raw["data"]["actionable_at"] = "2026-03-01T10:00:00+02:00"
    decoded = registry.decode(json.dumps(raw))
    assert decoded.time == T0 and decoded.time.tzinfo == UTC
    assert decoded.data.actionable_at == dt.datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert decoded.data.actionable_at.utcoffset() == dt.timedelta(0)


def test_historical_events_are_recognised_by_source() -> None:
    imported = registry.new_event(example("BriefSubmitted"), source="marops/import/legacy-crm", time=T0)
    live = registry.new_event(example("BriefSubmitted"), source="marops/intake", time=T0)
    assert imported.is_historical and not live.is_historical
    assert registry.decode(imported.to_json()).is_historical


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "value is not JSON"),
        (b"\xff\xfe", "value is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (None, "tombstone"),
        (b'{"specversion": "1.0"}', "missing CloudEvents attribute 'type'"),
        (b'{"type": "CampaignExploded", "data": {}}', "unknown event type 'CampaignExploded'"),
    ],
)
def test_decode_rejects_with_readable_reasons(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        registry.decode(value)


def test_decode_names_each_invalid_payload_field() -> None:
    raw = example_envelope("SpendRecorded")
    raw["data"]["amount"] = {"amount": "12.50"}
    raw["data"]["incurred_on"] = "yesterday"
    with pytest.raises(InvalidEvent) as failure:
        registry.decode(json.dumps(raw))
    message = str(failure.value)
    assert message.startswith("SpendRecorded failed validation: ")
    assert "data.amount.currency: Field required" in message
    assert "data.incurred_on:" in message


def test_decode_rejects_enum_outside_the_contract_and_float_money() -> None:
    brief = example_envelope("BriefSubmitted")
    brief["data"]["channels"] = ["telepathy"]
    with pytest.raises(InvalidEvent, match=r"data\.channels\.0"):
        registry.decode(json.dumps(brief))
    spend = example_envelope("SpendRecorded")
    spend["data"]["amount"]["amount"] = 0.1 + 0.2
    with pytest.raises(InvalidEvent, match="not a float"):
        registry.decode(json.dumps(spend))


def test_type_header_does_not_replace_the_envelope_type() -> None:
    # decode() looks the model up by the ce_type header when the body has no type, but the
    # envelope itself requires `type`, so such a record is still invalid (goes to the DLQ).
    raw = example_envelope("SpendRecorded")
    del raw["type"]
    with pytest.raises(InvalidEvent, match="SpendRecorded failed validation: type: Field required"):
        registry.decode(json.dumps(raw), headers={"ce_type": b"SpendRecorded"})
    with pytest.raises(InvalidEvent, match="unknown event type 'Nope'"):
        registry.decode(json.dumps(raw), headers={"ce_type": b"Nope"})


def test_envelope_ids_are_uuids() -> None:
    event = registry.new_event(example("SpendRecorded"), source="marops/test", time=T0)
    assert isinstance(event.id, uuid.UUID)
    assert isinstance(registry.decode(event.to_json()), Envelope)
