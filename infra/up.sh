#!/usr/bin/env bash
# Start the native infrastructure (PostgreSQL and Kafka, in parallel); idempotent.
# Fails (non-zero, with each script's output) if either cannot start.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

t0=$SECONDS
echo "infra: starting PostgreSQL and Kafka (state in ${MAROPS_INFRA_DIR:-.infra})"
bash "$SCRIPT_DIR/postgres.sh" start >"$tmp/postgres.out" 2>&1 9>&- &
pg_pid=$!
bash "$SCRIPT_DIR/kafka.sh" start >"$tmp/kafka.out" 2>&1 9>&- &
kafka_pid=$!

pg_rc=0
kafka_rc=0
wait "$pg_pid" || pg_rc=$?
wait "$kafka_pid" || kafka_rc=$?
cat "$tmp/postgres.out" "$tmp/kafka.out"

if [ "$pg_rc" != 0 ] || [ "$kafka_rc" != 0 ]; then
  [ "$pg_rc" != 0 ] && echo "infra: PostgreSQL failed to start (infra/postgres.sh exit $pg_rc)" >&2
  [ "$kafka_rc" != 0 ] && echo "infra: Kafka failed to start (infra/kafka.sh exit $kafka_rc)" >&2
  exit 1
fi
echo "infra: up in $((SECONDS - t0))s"
