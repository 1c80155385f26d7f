#!/usr/bin/env bash
# Stop the native infrastructure started by infra/up.sh (both, even if one fails), and the
# three-broker cluster of infra/kafka-cluster.sh if one runs.
set -uo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rc=0
bash "$SCRIPT_DIR/kafka.sh" stop || rc=1
bash "$SCRIPT_DIR/postgres.sh" stop || rc=1
bash "$SCRIPT_DIR/kafka-cluster.sh" stop || rc=1
exit "$rc"
