"""The decoder skips its tree walk when the bytes prove the walk cannot refuse anything.
Whatever the value, the outcome (the event, or the exact reason) is the one the full walk
gives."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marops_events import registry
from marops_events.registry import MAX_JSON_DEPTH, MAX_STRING_CHARS, InvalidEvent

from .test_decode_hostile import good_spend, wire


def outcome(value: bytes) -> object:
    try:
        return registry.decode(value)
    except InvalidEvent as exc:
        return f"refused: {exc}"


def with_full_walk(value: bytes, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(registry, "_tree_needs_check", lambda _value: True)
        return outcome(value)


def edge_values() -> list[bytes]:
    base = good_spend()
    values = [wire(base)]
    for text in ("\u0000", "a\u0000b", "caf\u00e9", "\ud800", "x" * MAX_STRING_CHARS, "x" * (MAX_STRING_CHARS + 1),
                 "\\", "\"", "{" * (MAX_JSON_DEPTH + 5)):
        for ensure_ascii in (True, False):
            raw = json.loads(wire(base))
            raw["data"]["source_reference"] = text
            values.append(json.dumps(raw, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass"))
    for depth in (MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1):
        raw = json.loads(wire(base))
        raw["ext"] = nested = []
        for _ in range(depth - 2):
            nested.append([])
            nested = nested[0]
        values.append(wire(raw))
    return values


@pytest.mark.parametrize("value", edge_values())
def test_the_fast_path_decides_like_the_full_walk_at_every_limit(value: bytes,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert outcome(value) == with_full_walk(value, monkeypatch)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                    max_leaves=60),
       st.booleans())
def test_any_extension_attribute_decides_like_the_full_walk(extra: object, ensure_ascii: bool) -> None:
    raw = good_spend()
    raw["ext"] = extra
    value = json.dumps(raw, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    fast = outcome(value)
    original = registry._tree_needs_check
    registry._tree_needs_check = lambda _value: True
    try:
        assert fast == outcome(value)
    finally:
        registry._tree_needs_check = original
