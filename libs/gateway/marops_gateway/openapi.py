"""``python -m marops_gateway.openapi DIR``: write each service's OpenAPI document to DIR/<service>.json.

The console's API types are generated from these (console/scripts/gen-types.mjs). The
documents are built from the apps themselves: no server and no database are needed.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from .settings import SERVICES


def document(service: str) -> dict[str, Any]:
    main = importlib.import_module(f"marops_{service}.main")
    settings = importlib.import_module(f"marops_{service}.settings")
    doc: dict[str, Any] = main.create_app(settings.Settings(jwt_secret="openapi-only")).openapi()
    return doc


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m marops_gateway.openapi DIR", file=sys.stderr)
        return 2
    target = Path(args[0])
    target.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (target / f"{service}.json").write_text(json.dumps(document(service), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
