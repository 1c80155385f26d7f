"""Generate the published event contracts from the models.

    python -m marops_events.contracts_gen            # (re)write the generated files
    python -m marops_events.contracts_gen --check    # exit 1 listing stale files
    python -m marops_events.contracts_gen --release  # add missing released baselines

Generated, never edited by hand (``contracts/``):

- ``schemas/<EventType>.v<N>.json``: a JSON Schema (draft 2020-12) per registry event,
  describing the whole CloudEvents envelope as it travels on Kafka with ``data`` being
  that event's payload;
- ``asyncapi.yaml``: one AsyncAPI 3.0.0 document with a channel per topic and per
  dead-letter topic, the producing and consuming services, Kafka headers and every
  schema inlined under ``components.schemas`` (self-contained).

``released/`` holds the baselines the compatibility test compares against; it is only
appended to (``--release`` copies the schema of an event type that has no baseline yet
and never overwrites one). See ``contracts/README.md``.

The schemas use pydantic's *serialization* mode: they describe the JSON producers emit
(``Envelope.to_json``), which is what consumers in any language read. Validation mode
would describe what pydantic happens to accept on input (e.g. a Decimal as "number or
string"), which would publish float money as valid. Decimals appear as strings with a
pattern matching ``str(Decimal)`` exactly (plain or exponent notation).

Output is deterministic: sorted keys, two-space JSON, block-style YAML, trailing newline.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import GenerateJsonSchema

from .envelope import HISTORICAL_SOURCE_PREFIX, Envelope
from .registry import (
    CONTENT_TYPE,
    DLQ_SUFFIX,
    EVENTS,
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
    MAX_VALUE_BYTES,
    EventSpec,
)
from .subscriptions import Subscriptions

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
RELEASED_DIR = CONTRACTS_DIR / "released"
ASYNCAPI_PATH = CONTRACTS_DIR / "asyncapi.yaml"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
CONTRACTS_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
STALE_HINT = "run make contracts"

# Exactly the strings ``str(Decimal)`` produces for finite values: plain notation
# ("-12.50", "0.00") or exponent notation ("1E+3", "1.5E-7", "0E-8").
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-][0-9]+)?$"

# Who consumes what: every service declares its subscriptions once
# (``marops_<service>.handlers.SUBSCRIPTIONS``, see marops_events.subscriptions); the
# consumer runner gets its handlers from them and this document its consumers.
SERVICES = ("intake", "governance", "budget", "metrics")


def consumers() -> dict[str, tuple[str, ...]]:
    """Event type -> the services that declare a subscription to it, in ``SERVICES`` order."""
    declared: dict[str, list[str]] = {}
    for service in SERVICES:
        subscriptions: Subscriptions[Any] = importlib.import_module(f"marops_{service}.handlers").SUBSCRIPTIONS
        for event_type in sorted(subscriptions.event_types):
            declared.setdefault(event_type, []).append(subscriptions.consumer)
    return {event_type: tuple(names) for event_type, names in declared.items()}

# The payload field the record key (and envelope ``subject``) is taken from; it must
# agree with ``EventSpec.key`` in the registry (the contract tests check it).
PARTITION_KEY_FIELDS: dict[str, str] = {"BudgetReallocated": "from_line_id",
                                         "BudgetLineRunOutForecast": "budget_line_id",
                                         "MetricCatalogueChanged": "catalogue_id",
                                         "ReviewPackPublished": "pack_id"}
_KEY_NAMES: dict[str, str] = {"from_line_id": "budget line id", "budget_line_id": "budget line id",
                              "catalogue_id": "catalogue id", "pack_id": "review pack id"}
DEFAULT_PARTITION_KEY_FIELD = "campaign_id"

# Producers besides the registry's one that publish straight onto the topic.
EXTERNAL_PRODUCERS: dict[str, str] = {
    "SpendRecorded": (
        "Other systems (ad platforms, finance) also publish SpendRecorded straight onto this "
        "topic, identifying themselves in data.source_system."
    ),
    "KpiResultsRecorded": (
        "Analytics systems also publish KpiResultsRecorded straight onto this topic, "
        "identifying themselves in data.source_system."
    ),
}

# One-line summaries for models that have no docstring of their own (a model's docstring,
# first paragraph, wins as soon as it has one; see ``summary()``).
SUMMARIES: dict[str, str] = {
    "CampaignCancelled": "A campaign was cancelled; its reservation or commitment is to be released.",
    "CampaignCompleted": "A campaign completed, with its results against its KPIs.",
    "GateApproved": "A gate was approved for one brief version.",
    "GateRejected": "A gate was rejected, or changes were requested, for one brief version.",
    "CampaignLaunched": "The owner launched a campaign; carries the readiness facts at launch.",
    "BudgetReserved": "The requested amount was reserved on the named budget line.",
    "BudgetReservationRejected": (
        "The requested amount could not be reserved (unknown line, insufficient funds, "
        "currency mismatch)."
    ),
    "BudgetCommitted": "On budget-gate approval, the reservation became a commitment.",
    "BudgetReleased": "A campaign's reservation or commitment was released.",
    "BudgetReallocated": "Money was moved from one budget line to another.",
    "BudgetThresholdExceeded": "A campaign's spend crossed a configured threshold of its commitment.",
}

DLQ_HEADERS: dict[str, str] = {
    "dlq.reason": "Why the record could not be processed (human-readable).",
    "dlq.original.topic": "Topic the record was consumed from.",
    "dlq.original.partition": "Partition it was consumed from (decimal integer).",
    "dlq.original.offset": "Offset it had there (decimal integer).",
    "dlq.consumer.group": "Consumer group that gave up on it.",
    "dlq.failed.at": "When it was dead-lettered (RFC 3339, UTC).",
}

INFO_DESCRIPTION = f"""\
The events of the marops services (intake, governance, budget, metrics). One Kafka
topic per event type and version, `marops.<kebab-type>.v1`; dead letters go to
`<topic>{DLQ_SUFFIX}`. A deployment-wide topic prefix (empty in production) may be
prepended to every address.

Every record value is a CloudEvents 1.0 envelope in structured mode
(`{CONTENT_TYPE}`): id, source, type, time, subject, specversion,
datacontenttype, plus the extensions `correlationid` (ties one journey together) and
`causationid` (the event or request that caused this one); `data` is the payload. The
record key is the partition key: the campaign id, except BudgetReallocated, keyed by
`from_line_id`, BudgetLineRunOutForecast, keyed by `budget_line_id`, and MetricCatalogueChanged, keyed by
`catalogue_id`. So one campaign's events of one type stay in order; events of different
types may arrive in any order. W3C trace context travels in the `traceparent` and
`tracestate` headers.

Delivery is at least once. Consumers deduplicate by the envelope `id` (recorded in an
inbox in the same transaction as the effect) and must be idempotent per business fact:
SpendRecorded and KpiResultsRecorded are deduplicated by
`(data.source_system, data.source_reference)`, whatever their envelope id.

Money is an object `{{amount, currency}}`: the amount is a decimal written as a JSON
string (never a JSON number), the currency an ISO 4217 code.

Time is business time in UTC: `time` (and every timestamp in `data`) says when the
fact happened, not when it was processed; metrics use it.

Events whose envelope `source` starts with `{HISTORICAL_SOURCE_PREFIX}` are historical
(imported history, replayed with their original business times): consumers that act on
events (open gates, reserve funds) ignore them; projections treat them normally.

Compatibility: consumers ignore unknown attributes and fields, so a version may gain
optional fields and enum values. Removing or renaming a field, changing its type or
format, or removing an enum value needs a new versioned event type and topic.

Limits on incoming records: a value is at most {MAX_VALUE_BYTES} bytes of UTF-8 JSON,
nested at most {MAX_JSON_DEPTH} levels, with no JSON number longer than
{MAX_NUMBER_CHARS} characters (NaN and Infinity are not JSON), no string longer than
{MAX_STRING_CHARS} characters and no NUL character or lone surrogate; `time` must stay
within years 1-9999 once converted to UTC; a `ce_type` header, when present, must equal
the envelope's `type`, and the type must belong to the topic. A record that breaks any
of these (or its contract) is dead-lettered with the reason and the partition moves on.
"""


class _SchemaGenerator(GenerateJsonSchema):
    def decimal_schema(self, schema: Any) -> dict[str, Any]:
        if self.mode == "serialization":
            return {"type": "string", "pattern": DECIMAL_PATTERN}
        return super().decimal_schema(schema)


# --- JSON Schema per event ------------------------------------------------------------


def schema_id(spec: EventSpec) -> str:
    return f"urn:marops:event:{spec.type}:v{spec.version}"


def schema_name(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.version}"


def summary(spec: EventSpec) -> str:
    return spec.description or SUMMARIES.get(spec.type) or f"The {spec.type} event."


def partition_key_field(spec: EventSpec) -> str:
    return PARTITION_KEY_FIELDS.get(spec.type, DEFAULT_PARTITION_KEY_FIELD)


def _key_phrase(spec: EventSpec) -> str:
    field = partition_key_field(spec)
    what = "campaign id" if field == DEFAULT_PARTITION_KEY_FIELD else f"{_KEY_NAMES[field]} ({field})"
    return f"{what}, data.{field}"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """The JSON Schema of one event: the envelope with ``data`` being ``spec.model``."""
    raw = Envelope[spec.model].model_json_schema(  # type: ignore[name-defined]
        mode="serialization", schema_generator=_SchemaGenerator
    )
    raw = json.loads(json.dumps(raw))  # plain JSON values only, like the file reads back
    raw["properties"]["type"] = {**raw["properties"]["type"], "const": spec.type}
    description = (
        f"{summary(spec)}\n\n"
        f"CloudEvents 1.0 envelope ({CONTENT_TYPE}) on topic {spec.base_topic}, produced by "
        f"{spec.producer}. Record key and subject: {_key_phrase(spec)}. "
        f"data is the {spec.type} v{spec.version} payload."
    )
    return {
        **raw,
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(spec),
        "title": f"{spec.type} v{spec.version}",
        "description": description,
    }


# --- AsyncAPI -------------------------------------------------------------------------


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                value = prefix + value[len("#/$defs/") :]
            out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node


def _component_schemas(specs: Iterable[EventSpec]) -> dict[str, Any]:
    """Every event schema, its ``$defs`` hoisted into shared components (refs rewritten)."""
    prefix = "#/components/schemas/"
    schemas: dict[str, Any] = {
        "KafkaHeaders": {
            "type": "object",
            "description": "Headers the outbox relay sets on every event record.",
            "properties": {
                "traceparent": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                    "description": "W3C trace context of the producing transaction.",
                },
                "tracestate": {"type": "string", "description": "W3C trace state (vendor data)."},
                "ce_type": {
                    "type": "string",
                    "description": "The envelope's type, for routing without parsing the value.",
                },
                "ce_id": {"type": "string", "description": "The envelope's id."},
                "content-type": {"type": "string", "const": CONTENT_TYPE},
            },
        },
        "DeadLetterHeaders": {
            "type": "object",
            "description": (
                "The original record's headers are kept; the dead-lettering consumer adds the "
                "dlq.* headers (UTF-8 strings)."
            ),
            "properties": {
                name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
            },
            "required": list(DLQ_HEADERS),
        },
    }
    headers = schemas["DeadLetterHeaders"]["properties"]
    headers["dlq.original.partition"]["pattern"] = "^[0-9]+$"
    headers["dlq.original.offset"]["pattern"] = "^[0-9]+$"
    headers["dlq.failed.at"]["format"] = "date-time"

    for spec in specs:
        schema = event_schema(spec)
        for name, definition in schema.pop("$defs", {}).items():
            definition = _rewrite_refs(definition, prefix)
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two different schemas are both named {name!r}")
        del schema["$schema"], schema["$id"]
        schema["x-schema-id"] = schema_id(spec)
        name = schema_name(spec)
        if name in schemas:
            raise ValueError(f"schema name {name!r} is taken")
        schemas[name] = _rewrite_refs(schema, prefix)
    return schemas


def asyncapi_document(events: Mapping[str, EventSpec] = EVENTS) -> dict[str, Any]:
    specs = list(events.values())
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    consumed_by = consumers()
    for spec in specs:
        consumers_of = list(consumed_by.get(spec.type, ()))
        key = _key_phrase(spec)
        dlq_name = f"{spec.type}DeadLetter"
        dlq_channel = f"{spec.type}Dlq"
        kafka_key = {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "key": {"type": "string", "description": f"Partition key: {key}."},
            }
        }

        messages[spec.type] = {
            "name": spec.type,
            "title": f"{spec.type} v{spec.version}",
            "summary": summary(spec),
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/KafkaHeaders"},
            "payload": {"$ref": f"#/components/schemas/{schema_name(spec)}"},
            "correlationId": {
                "description": "Ties all events of one journey together.",
                "location": "$message.payload#/correlationid",
            },
            "bindings": kafka_key,
        }
        messages[dlq_name] = {
            "name": dlq_name,
            "title": f"Dead-lettered {spec.type}",
            "summary": f"A {spec.type} record a consumer could never process.",
            "description": (
                "The failed record as it was consumed: same key, same value byte for byte "
                f"(usually a {spec.type} envelope, possibly not valid JSON at all) and the "
                "original headers, plus the dlq.* headers."
            ),
            "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
            "payload": {"description": f"The original record value of {spec.base_topic}."},
            "bindings": kafka_key,
        }

        external = EXTERNAL_PRODUCERS.get(spec.type, "")
        channels[spec.type] = {
            "address": spec.base_topic,
            "title": spec.type,
            "description": (
                f"{summary(spec)} Partition key: {key}. "
                f"Produced by {spec.producer}. {external}".strip()
            ),
            "messages": {spec.type: {"$ref": f"#/components/messages/{spec.type}"}},
        }
        channels[dlq_channel] = {
            "address": f"{spec.base_topic}{DLQ_SUFFIX}",
            "title": f"{spec.type} dead letters",
            "description": (
                f"Records of {spec.base_topic} that a consumer could not process, with the "
                f"reason in the dlq.* headers. Partition key: {key}."
            ),
            "messages": {dlq_name: {"$ref": f"#/components/messages/{dlq_name}"}},
        }

        main_message = [{"$ref": f"#/channels/{spec.type}/messages/{spec.type}"}]
        operations[f"send{spec.type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{spec.type}"},
            "title": f"{spec.producer} publishes {spec.type}",
            "description": (
                f"Published by {spec.producer} through its transactional outbox. {external}".strip()
            ),
            "messages": main_message,
            "x-producer": spec.producer,
        }
        operations[f"receive{spec.type}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{spec.type}"},
            "title": f"{spec.type} consumers",
            "description": f"Consumed by: {', '.join(consumers_of)}.",
            "messages": main_message,
            "x-consumers": consumers_of,
        }
        operations[f"deadLetter{spec.type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{dlq_channel}"},
            "title": f"{spec.type} consumers dead-letter records",
            "description": (
                f"A consumer of {spec.base_topic} sends a record it can never process here "
                "and carries on."
            ),
            "messages": [{"$ref": f"#/channels/{dlq_channel}/messages/{dlq_name}"}],
            "x-producers": consumers_of,
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "marops events",
            "version": CONTRACTS_VERSION,
            "description": INFO_DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": _component_schemas(specs), "messages": messages},
    }


# --- rendering ------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dump_yaml(document: Any) -> str:
    text = yaml.dump(
        copy.deepcopy(document),
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return text if text.endswith("\n") else text + "\n"


def render(events: Mapping[str, EventSpec] = EVENTS) -> dict[Path, str]:
    """Every generated file and its exact content."""
    files = {SCHEMAS_DIR / f"{schema_name(spec)}.json": dump_json(event_schema(spec)) for spec in events.values()}
    files[ASYNCAPI_PATH] = dump_yaml(asyncapi_document(events))
    return files


def _orphans(files: Mapping[Path, str]) -> list[Path]:
    if not SCHEMAS_DIR.is_dir():
        return []
    return sorted(p for p in SCHEMAS_DIR.glob("*.json") if p not in files)


def stale_files() -> list[Path]:
    """Generated files that are missing, differ from the models, or should not exist."""
    files = render()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    return sorted(stale + _orphans(files))


def write() -> list[Path]:
    """(Re)write the generated files; returns those that changed or were removed."""
    files = render()
    changed = []
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for orphan in _orphans(files):
        orphan.unlink()
        changed.append(orphan)
    return sorted(changed)


def release() -> list[Path]:
    """Add the released baseline of every event type that has none. Never overwrites."""
    added = []
    for spec in EVENTS.values():
        target = RELEASED_DIR / f"{schema_name(spec)}.json"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump_json(event_schema(spec)), encoding="utf-8")
            added.append(target)
    return added


def check() -> int:
    stale = stale_files()
    if not stale:
        return 0
    print(f"stale event contracts ({STALE_HINT}):", file=sys.stderr)
    for path in stale:
        print(f"  {_relative(path)}", file=sys.stderr)
    return 1


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marops_events.contracts_gen", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 listing stale generated files")
    mode.add_argument("--release", action="store_true", help="add missing released baselines")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if args.release:
        for path in release():
            print(f"released {_relative(path)}")
        return 0
    for path in write():
        print(f"wrote {_relative(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
