"""One registry: event type -> topic -> partition key -> model.

Topics are ``marops.<kebab-type>.v1``, one per event type. A deployment-wide
``topic_prefix`` (empty in production) lets tests and side-by-side environments share
one broker without seeing each other's events.
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from . import contracts as c
from .envelope import Envelope, utcnow

CONTENT_TYPE = "application/cloudevents+json"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: builtins.type[BaseModel]  # builtins': the field above is named type
    producer: str
    key: Callable[[Any], str]
    version: int = 1
    description: str = ""

    @property
    def base_topic(self) -> str:
        kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", self.type).lower()
        return f"marops.{kebab}.v{self.version}"

    def topic(self, prefix: str = "") -> str:
        return f"{prefix}{self.base_topic}"


def _campaign(data: Any) -> str:
    campaign_id: str = data.campaign_id
    return campaign_id


def _spec(model: type[BaseModel], producer: str, key: Callable[[Any], str] = _campaign) -> EventSpec:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return EventSpec(type=model.__name__, model=model, producer=producer, key=key, description=doc)


EVENTS: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        _spec(c.BriefSubmitted, "intake"),
        _spec(c.CampaignCancelled, "intake"),
        _spec(c.CampaignCompleted, "intake"),
        _spec(c.RetrospectiveRecorded, "intake"),
        _spec(c.ChangeRequested, "intake"),
        _spec(c.CampaignPaused, "intake"),
        _spec(c.CampaignResumed, "intake"),
        _spec(c.KpiResultsRecorded, "intake"),
        _spec(c.GateApproved, "governance"),
        _spec(c.GateRejected, "governance"),
        _spec(c.CampaignLaunched, "governance"),
        _spec(c.SlaBreached, "governance"),
        _spec(c.GateEscalated, "governance"),
        _spec(c.ChangeDecided, "governance"),
        _spec(c.MetricCatalogueChanged, "governance", key=lambda d: d.catalogue_id),
        _spec(c.RiskChanged, "governance"),
        _spec(c.BudgetReserved, "budget"),
        _spec(c.BudgetReservationRejected, "budget"),
        _spec(c.BudgetCommitted, "budget"),
        _spec(c.BudgetReleased, "budget"),
        _spec(c.SpendRecorded, "budget"),
        _spec(c.BudgetReallocated, "budget", key=lambda d: d.from_line_id),
        _spec(c.BudgetThresholdExceeded, "budget"),
        _spec(c.SpendReconciliationChanged, "budget"),
        _spec(c.BudgetLineRunOutForecast, "budget", key=lambda d: d.budget_line_id),
        _spec(c.ReviewPackPublished, "metrics", key=lambda d: d.pack_id),
    )
}

_BY_MODEL: dict[type[BaseModel], EventSpec] = {spec.model: spec for spec in EVENTS.values()}


class UnknownEventType(LookupError):
    pass


class InvalidEvent(ValueError):
    """A record that cannot be decoded into a known, valid event. Goes to the DLQ."""


def spec_for(event_type: str) -> EventSpec:
    try:
        return EVENTS[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def spec_of(data: BaseModel) -> EventSpec:
    return spec_for_model(type(data))


def spec_for_model(model: type[BaseModel]) -> EventSpec:
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise UnknownEventType(model.__name__) from None


def topics(prefix: str = "", types: Iterable[str] | None = None) -> list[str]:
    return [EVENTS[t].topic(prefix) for t in (types if types is not None else EVENTS)]


def topic_types(prefix: str = "", types: Iterable[str] | None = None) -> dict[str, str]:
    """Topic -> the event type it carries (every registered type, or ``types``)."""
    return {EVENTS[t].topic(prefix): t for t in (types if types is not None else EVENTS)}


def type_for_topic(topic: str, prefix: str = "") -> str | None:
    for spec in EVENTS.values():
        if spec.topic(prefix) == topic:
            return spec.type
    return None


def new_event(
    data: BaseModel,
    *,
    source: str,
    time: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope[Any]:
    """Wrap a payload in an envelope; subject and type come from the registry."""
    spec = spec_of(data)
    return _envelope_of(spec)(
        id=event_id or uuid.uuid4(),
        source=source,
        type=spec.type,
        time=time or utcnow(),
        subject=spec.key(data),
        correlationid=correlation_id or spec.key(data),
        causationid=causation_id,
        data=data,
    )


def partition_key(event: Envelope[Any]) -> str:
    return spec_of(event.data).key(event.data)


# Limits on incoming records (README "Events for other systems", AsyncAPI document).
# Every v1 event is a few hundred bytes; these bounds are generous for them and stop a
# record from costing unbounded memory or CPU before it is refused.
MAX_VALUE_BYTES = 512 * 1024
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 40
MAX_STRING_CHARS = 16_384
_MAX_REASON_CHARS = 1000


def decode(value: bytes | str | None, headers: Mapping[str, bytes | None] | None = None, *,
           expected_type: str | None = None) -> Envelope[Any]:
    """Parse and validate one record value into a typed envelope.

    Raises ``InvalidEvent`` with a human-readable reason for anything that is not a
    valid v1 event (of ``expected_type``, when given): oversized, not UTF-8, bad or too
    deep JSON, over-long numbers or strings, NUL characters, unknown type, a ``ce_type``
    header that disagrees with the value, or a payload that fails its contract. Nothing
    else ever escapes: whatever a record holds, the caller gets ``InvalidEvent``.
    """
    try:
        return _decode(value, headers or {}, expected_type)
    except InvalidEvent as exc:
        raise InvalidEvent(str(exc)[:_MAX_REASON_CHARS]) from None
    except Exception as exc:  # a failure no rule above foresaw is still only a bad record
        raise InvalidEvent(f"undecodable record ({type(exc).__name__}: {exc})"[:_MAX_REASON_CHARS]) from None


def _decode(value: bytes | str | None, headers: Mapping[str, bytes | None], expected_type: str | None) -> Envelope[Any]:
    raw = parse_json(value)
    if not isinstance(raw, dict):
        raise InvalidEvent("value is not a JSON object")
    header_type = _header_text(headers, "ce_type")
    event_type = raw.get("type", header_type)
    if not isinstance(event_type, str):
        raise InvalidEvent("missing CloudEvents attribute 'type'")
    if header_type is not None and header_type != event_type:
        raise InvalidEvent(f"header ce_type {header_type!r} disagrees with the envelope type {event_type!r}")
    try:
        spec = spec_for(event_type)
    except UnknownEventType:
        raise InvalidEvent(f"unknown event type {event_type!r}") from None
    if expected_type is not None and event_type != expected_type:
        raise InvalidEvent(f"event type {event_type!r} does not belong on the {expected_type} topic")
    try:
        return _envelope_of(spec).model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type} failed validation: {_summarise(exc)}") from None


_ENVELOPES: dict[str, type[Envelope[Any]]] = {}


def _envelope_of(spec: EventSpec) -> type[Envelope[Any]]:
    """``Envelope[model]``, looked up once per type (pydantic's own cache costs a key build per call)."""
    envelope = _ENVELOPES.get(spec.type)
    if envelope is None:
        envelope = _ENVELOPES[spec.type] = Envelope[spec.model]  # type: ignore[name-defined]
    return envelope


def parse_json(value: bytes | str | None) -> Any:
    """Strict, bounded JSON: UTF-8 only, no NaN/Infinity, limited size, depth, number and
    string lengths, no NUL characters or lone surrogates (PostgreSQL stores neither)."""
    if value is None:
        raise InvalidEvent("empty record value (tombstone)")
    if isinstance(value, str):
        value = value.encode("utf-8", errors="surrogatepass")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidEvent(f"value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"value is not JSON: it is not UTF-8 ({exc})") from None
    if text.startswith("\ufeff"):  # what json.loads says of a BOM, word for word
        bom = json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        raise InvalidEvent(f"value is not JSON: {bom}")
    try:
        raw = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"value is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidEvent(f"JSON nested too deep (limit {MAX_JSON_DEPTH} levels)") from None
    if not _tree_needs_check(value):
        return raw
    _check_tree(raw)
    return raw


def _tree_needs_check(value: bytes) -> bool:
    """Whether ``_check_tree`` could refuse what parsed from ``value``, judged on the bytes.

    A NUL or a lone surrogate can only come from a backslash escape (the UTF-8 decoder
    refuses encoded surrogates, the JSON parser refuses raw control characters); no string
    holds more characters than the value has bytes; no container nests deeper than the
    value has opening brackets. Ordinary events pass all three, and skip the tree walk.
    """
    return (len(value) > MAX_STRING_CHARS or b"\\" in value
            or value.count(b"{") + value.count(b"[") > MAX_JSON_DEPTH)


def _bounded(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise InvalidEvent(f"JSON number of {len(text)} characters; the limit is {MAX_NUMBER_CHARS}")
        return kind(text)

    return parse


def _no_constant(name: str) -> Any:
    raise InvalidEvent(f"JSON number {name} is not allowed")


# Built once: json.loads builds a decoder (and its scanner) per call when given hooks.
_DECODER = json.JSONDecoder(parse_int=_bounded(int), parse_float=_bounded(float), parse_constant=_no_constant)


def _check_tree(root: Any) -> None:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node)
        elif isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidEvent(f"JSON nested too deep (limit {MAX_JSON_DEPTH} levels)")
            if isinstance(node, dict):
                for key in node:
                    _check_string(key)
                stack.extend((v, depth + 1) for v in node.values())
            else:
                stack.extend((v, depth + 1) for v in node)


def _check_string(text: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise InvalidEvent(f"JSON string of {len(text)} characters; the limit is {MAX_STRING_CHARS}")
    if "\x00" in text:
        raise InvalidEvent("JSON string contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent("JSON string contains a lone surrogate (not valid Unicode)") from None


def _header_text(headers: Mapping[str, bytes | None], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        raise InvalidEvent(f"header {name} is not UTF-8") from None


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)
