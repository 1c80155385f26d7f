"""A typed TypeScript client can be generated from each service's OpenAPI document.

openapi-typescript (npm, pinned in the Makefile, installed by `make install` into
.infra/openapi-ts) turns each document into types; a response body typed `unknown` (or an
empty object) means a frontend gets no types for it, so the test fails and names it. The
documents are built from the apps themselves (no server, no database needed).
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / ".infra" / "openapi-ts" / "node_modules" / ".bin" / "openapi-typescript"
UNTYPED = {"unknown", "Record<string, never>", "Record<string, unknown>"}
SERVICES = ["intake", "governance", "budget", "metrics"]


def document(service: str) -> dict:
    main = importlib.import_module(f"marops_{service}.main")
    settings = importlib.import_module(f"marops_{service}.settings")
    return main.create_app(settings.Settings(jwt_secret="typed-client-test")).openapi()


def untyped_bodies(typescript: str) -> list[str]:
    """``operation media-type: type`` for every response body with no usable type."""
    operations = typescript.split("export interface operations {", 1)[1]
    found = []
    for name, body in re.findall(r"\n    (\w+): \{\n(.*?)\n    \};", operations, flags=re.S):
        responses = body.split("responses:", 1)[1]
        for media, kind in re.findall(r'"([a-z]+/[a-z0-9+.\-]+)": ([^;]+);', responses):
            if kind.strip() in UNTYPED:
                found.append(f"{name} {media}: {kind}")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_typed_client_has_a_type_for_every_response_body(service: str, tmp_path: Path) -> None:
    assert GENERATOR.exists(), f"{GENERATOR} is missing: run make install (it installs openapi-typescript with npm)"
    source, target = tmp_path / f"{service}.json", tmp_path / f"{service}.ts"
    source.write_text(json.dumps(document(service)))
    run = subprocess.run([str(GENERATOR), str(source), "-o", str(target)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    typescript = target.read_text()
    assert "export interface operations" in typescript
    assert untyped_bodies(typescript) == []


def test_the_check_itself_finds_an_untyped_body() -> None:
    sample = ('export interface operations {\n    get_x: {\n        responses: {\n            200: {\n'
              '                content: {\n                    "application/json": unknown;\n'
              '                };\n            };\n        };\n    };\n}\n')
    assert untyped_bodies(sample) == ["get_x application/json: unknown"]


#: pydantic's names for bounds; written into a document they are ignored by every client
#: and fuzzer (``Annotated[JsonInt, Field(ge=1)]`` does that), so the bound is not documented
NOT_JSON_SCHEMA = {"ge", "gt", "le", "lt", "max_digits", "decimal_places", "multiple_of", "min_items", "max_items"}


def foreign_keywords(node: object, where: str = "#") -> list[str]:
    """``where: keyword`` for every pydantic-only keyword in a schema (property names skipped)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NOT_JSON_SCHEMA:
                found.append(f"{where}: {key}")
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    found += foreign_keywords(sub, f"{where}/properties/{name}")
            else:
                found += foreign_keywords(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += foreign_keywords(item, f"{where}/{i}")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_bound_is_written_in_json_schema(service: str) -> None:
    assert foreign_keywords(document(service)) == []


def test_the_keyword_check_finds_a_pydantic_bound() -> None:
    assert foreign_keywords({"properties": {"le": {"type": "integer", "ge": 1}}}) == ["#/properties/le: ge"]
