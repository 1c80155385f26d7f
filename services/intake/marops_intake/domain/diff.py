"""What changed between two brief versions, as a list of field-level changes.

Objects are compared key by key and lists of objects item by item (``kpis.1.target``);
lists of plain values (channels, conversion events, people) are compared as a whole,
because for them the reader wants "was [a, b], now [a, c]", not index noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

_ABSENT = object()


@dataclass(frozen=True)
class Change:
    path: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Field-level changes turning ``before`` into ``after`` (JSON-like values)."""
    out: list[Change] = []
    _walk("", before, after, out)
    return out


def _walk(path: str, before: Any, after: Any, out: list[Change]) -> None:
    if before is _ABSENT or before is None:
        if after is not _ABSENT and after is not None:
            out.append(Change(path, "added", None, after))
        return
    if after is _ABSENT or after is None:
        out.append(Change(path, "removed", before, None))
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            _walk(_join(path, key), before.get(key, _ABSENT), after.get(key, _ABSENT), out)
        return
    if _object_list(before) and _object_list(after):
        for i in range(max(len(before), len(after))):
            _walk(_join(path, str(i)), before[i] if i < len(before) else _ABSENT,
                  after[i] if i < len(after) else _ABSENT, out)
        return
    if before != after:
        out.append(Change(path, "changed", before, after))


def _object_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
