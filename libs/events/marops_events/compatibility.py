"""Consumer-breaking changes between two versions of an event's JSON Schema.

``breaking_changes(old, new)`` compares the schema an event type was released with
(``old``) to the one its model produces now (``new``) and lists every change that would
break a consumer, each as ``"<path>: <what changed>"``. Paths are written in instance
terms (``$.data.amount.amount``, ``$.data.channels[]``), never in ``$defs`` terms, so a
renamed or moved definition does not hide or invent a change.

Both directions matter, because old and new events share a topic and are replayed:

- consumers built on the old schema read events of new producers, so a field that is
  removed, no longer required, made nullable or retyped breaks them;
- consumers built on the new schema read events of old producers (and the history on the
  topic), so a new required field, a field that became required or a narrowed type
  breaks them.

Compatible: adding an optional field, adding an enum value (consumers tolerate unknown
fields; see ``contracts.py``), and any change to annotations (``title``,
``description``, ``examples``, ``default``).

Only local references (``#/...``) are resolved; the function is pure and never touches
the network or the file system.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["breaking_changes"]

Schema = dict[str, Any]

# Validation keywords on one value whose change, in either direction, rejects events that
# one side of the change accepts. ``enum`` is handled apart (adding values is allowed).
_VALUE_KEYWORDS = (
    "const",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_REF_DEPTH = 64


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every consumer-breaking change from ``old_schema`` to ``new_schema``, with its path."""
    comparison = _Comparison(old_schema, new_schema)
    comparison.compare(old_schema, new_schema, "$")
    return list(dict.fromkeys(comparison.problems))


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        self._active: set[tuple[int, int]] = set()

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # --- walking ---------------------------------------------------------------------

    def compare(self, old: Any, new: Any, path: str) -> None:
        old = _resolve(old, self.old_root)
        new = _resolve(new, self.new_root)
        pair = (id(old), id(new))
        if pair in self._active:  # recursive schema: this pair is already being compared
            return
        self._active.add(pair)
        try:
            self._compare_alternatives(old, new, path)
        finally:
            self._active.discard(pair)

    def _compare_alternatives(self, old: Schema, new: Schema, path: str) -> None:
        old_alts = list(_alternatives(old, self.old_root))
        new_alts = list(_alternatives(new, self.new_root))
        old_null = any(_type_of(a) == "null" for a in old_alts)
        new_null = any(_type_of(a) == "null" for a in new_alts)
        old_alts = [a for a in old_alts if _type_of(a) != "null"]
        new_alts = [a for a in new_alts if _type_of(a) != "null"]

        if old_null and not new_null:
            self.report(path, "no longer nullable (anyOf narrowed): events of old producers may carry null")
        if new_null and not old_null:
            self.report(path, "became nullable (anyOf widened): old consumers cannot read null")

        if len(old_alts) == 1 and len(new_alts) == 1:
            self._compare_one(old_alts[0], new_alts[0], path)
            return

        unmatched_new = list(new_alts)
        for old_alt in old_alts:
            match = _best_match(old_alt, unmatched_new)
            if match is None:
                self.report(path, f"anyOf narrowed: {_describe(old_alt)} is no longer accepted")
                continue
            unmatched_new.remove(match)
            self._compare_one(old_alt, match, path)
        for new_alt in unmatched_new:
            self.report(path, f"anyOf widened: {_describe(new_alt)} is now possible, old consumers cannot read it")

    def _compare_one(self, old: Schema, new: Schema, path: str) -> None:
        old_type, new_type = _type_of(old), _type_of(new)
        if old_type != new_type:
            self.report(path, f"type changed from {_describe(old)} to {_describe(new)}")
            return
        for keyword in _VALUE_KEYWORDS:
            before, after = old.get(keyword), new.get(keyword)
            if before != after:
                self.report(path, f"{keyword} changed from {_show(before)} to {_show(after)}")
        self._compare_enum(old, new, path)
        if old_type == "object":
            self._compare_object(old, new, path)
        elif old_type == "array":
            self._compare_array(old, new, path)

    def _compare_enum(self, old: Schema, new: Schema, path: str) -> None:
        if "enum" in old and "enum" in new:
            for value in old["enum"]:
                if value not in new["enum"]:
                    self.report(path, f"enum value {value!r} removed")
        elif "enum" in new:
            self.report(path, "enum constraint added: values are now restricted")
        elif "enum" in old:
            self.report(path, "enum constraint removed: values are no longer restricted")

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        removed = [name for name in old_props if name not in new_props]
        added = [name for name in new_props if name not in old_props]
        hint = f" (renamed to {added[0]!r}?)" if len(removed) == 1 and len(added) == 1 else ""

        for name in removed:
            kind = "required field" if name in old_required else "optional field"
            self.report(_child(path, name), f"{kind} removed{hint}")
        for name, old_prop in old_props.items():
            if name not in new_props:
                continue
            child = _child(path, name)
            if name in old_required and name not in new_required:
                self.report(child, "required field no longer required: old consumers rely on it")
            if name not in old_required and name in new_required:
                self.report(child, "optional field became required: events of old producers may lack it")
            self.compare(old_prop, new_props[name], child)
        for name in added:
            if name in new_required:
                self.report(_child(path, name), "new required field added: events of old producers lack it")

        # Required names without a property schema (unusual, but valid JSON Schema).
        for name in sorted(old_required - new_required - old_props.keys()):
            self.report(_child(path, name), "required field no longer required")
        for name in sorted(new_required - old_required - new_props.keys()):
            self.report(_child(path, name), "new required field added: events of old producers lack it")

        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.compare(old_extra, new_extra, f"{path}.*")
        elif old_extra is not False and new_extra is False:
            self.report(path, "additional properties no longer allowed: unknown fields are rejected")
        elif old_extra is False and new_extra is not False:
            self.report(path, "additional properties now allowed: old consumers reject unknown fields")

    def _compare_array(self, old: Schema, new: Schema, path: str) -> None:
        old_prefix = old.get("prefixItems", [])
        new_prefix = new.get("prefixItems", [])
        for index, (before, after) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(before, after, f"{path}[{index}]")
        if len(old_prefix) != len(new_prefix):
            self.report(path, f"tuple length changed from {len(old_prefix)} to {len(new_prefix)}")
        old_items, new_items = old.get("items", {}), new.get("items", {})
        if old_items is False or new_items is False:
            if old_items != new_items:
                self.report(f"{path}[]", "items changed")
            return
        self.compare(old_items, new_items, f"{path}[]")


# --- schema helpers --------------------------------------------------------------------


def _resolve(node: Any, root: Schema) -> Schema:
    """Follow local ``$ref`` chains; keywords beside a ``$ref`` override the target's."""
    if node is True or node is None:
        return {}
    if node is False:
        return {"not": {}}
    for _ in range(_MAX_REF_DEPTH):
        ref = node.get("$ref")
        if ref is None:
            resolved: Schema = node
            return resolved
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        target = _pointer(root, ref)
        node = {**target, **siblings} if siblings else target
    raise ValueError(f"$ref chain too deep (cycle?) at {ref!r}")


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs can be compared, got {ref!r}")
    node: Any = root
    for token in [t for t in ref[1:].split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"unresolvable $ref {ref!r}") from None
    if not isinstance(node, dict):
        raise ValueError(f"$ref {ref!r} does not point to a schema")
    return node


def _alternatives(node: Schema, root: Schema) -> Iterator[Schema]:
    """The schemas a value may match, flattening anyOf/oneOf, single allOf and type lists."""
    node = _resolve(node, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            base = {k: v for k, v in node.items() if k not in (keyword, "title", "description", "default")}
            for branch in node[keyword]:
                yield from _alternatives(_merge(base, _resolve(branch, root)), root)
            return
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            merged = _merge(merged, _resolve(part, root))
        yield from _alternatives(merged, root)
        return
    types = node.get("type")
    if isinstance(types, list):
        for single in types:
            yield {**node, "type": single}
        return
    yield node


def _merge(base: Schema, extra: Schema) -> Schema:
    merged = {**base, **extra}
    if "properties" in base and "properties" in extra:
        merged["properties"] = {**base["properties"], **extra["properties"]}
    if "required" in base and "required" in extra:
        merged["required"] = list(dict.fromkeys([*base["required"], *extra["required"]]))
    return merged


def _type_of(node: Schema) -> str:
    declared = node.get("type")
    if isinstance(declared, str):
        return declared
    values = node["enum"] if "enum" in node else [node["const"]] if "const" in node else None
    if values:
        kinds = {_json_type(v) for v in values}
        if len(kinds) == 1:
            return kinds.pop()
    if "properties" in node:
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    return "any"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _signature(node: Schema) -> tuple[Any, ...]:
    return (_type_of(node), node.get("format"), node.get("pattern"), node.get("title"))


def _best_match(old: Schema, candidates: list[Schema]) -> Schema | None:
    same_type = [c for c in candidates if _type_of(c) == _type_of(old)]
    for candidate in same_type:
        if _signature(candidate) == _signature(old):
            return candidate
    return same_type[0] if same_type else None


def _describe(node: Schema) -> str:
    text = _type_of(node)
    details = []
    if "format" in node:
        details.append(f"format {node['format']!r}")
    if "pattern" in node:
        details.append(f"pattern {node['pattern']!r}")
    if text == "object" and "title" in node:
        details.append(str(node["title"]))
    return f"{text} ({', '.join(details)})" if details else text


def _show(value: Any) -> str:
    return "(none)" if value is None else repr(value)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if _IDENTIFIER.match(name) else f"{path}[{name!r}]"
