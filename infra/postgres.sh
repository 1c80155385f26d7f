#!/usr/bin/env bash
# Native PostgreSQL cluster for development and tests, on loopback only. No Docker needed.
#
#   infra/postgres.sh start    find (or apt-get install) the server, initdb on first start,
#                              start it, create the `marops` superuser and one database per
#                              service (intake, governance, budget, metrics)
#   infra/postgres.sh stop     stop the cluster started from this directory
#   infra/postgres.sh status   exit 0 if a server answers on the port
#
# Environment: MAROPS_PG_PORT (15432), MAROPS_INFRA_DIR (.infra, relative to the repository
# root), MAROPS_PG_BINDIR (server binaries; found automatically), MAROPS_PG_SOCKET_DIR
# (/tmp/marops-pg-<port>), MAROPS_PG_FSYNC (on; `off` only for throwaway machines),
# MAROPS_PG_START_TIMEOUT (seconds, 60).
#
# Authentication is `trust`, and the server listens on 127.0.0.1 and a unix socket only.
# Running as root, the cluster runs as the `postgres` OS user (created if missing).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PORT="${MAROPS_PG_PORT:-15432}"
INFRA_DIR="${MAROPS_INFRA_DIR:-.infra}"
case "$INFRA_DIR" in /*) ;; *) INFRA_DIR="$REPO_ROOT/$INFRA_DIR" ;; esac
PGDIR="$INFRA_DIR/postgres"
DATA="$PGDIR/data"
LOG="$PGDIR/postgres.log"
SOCKDIR="${MAROPS_PG_SOCKET_DIR:-/tmp/marops-pg-$PORT}"
FSYNC="${MAROPS_PG_FSYNC:-on}"
START_TIMEOUT="${MAROPS_PG_START_TIMEOUT:-60}"
DATABASES="intake governance budget metrics"
APP_ROLE="marops"
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
BINDIR=""

say() { echo "postgres: $*"; }
fail() {
  echo "postgres: ERROR: $*" >&2
  if [ -s "$LOG" ]; then
    echo "postgres: ---- last 40 lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2
    echo "postgres: ----" >&2
  fi
  exit 1
}

has_server() { [ -n "$1" ] && [ -x "$1/postgres" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ]; }

find_bindir() {
  local d want=""
  [ -f "$DATA/PG_VERSION" ] && want="$(cat "$DATA/PG_VERSION")"
  if [ -n "${MAROPS_PG_BINDIR:-}" ]; then
    has_server "$MAROPS_PG_BINDIR" || fail "MAROPS_PG_BINDIR=$MAROPS_PG_BINDIR has no postgres/initdb/pg_ctl"
    BINDIR="$MAROPS_PG_BINDIR"
    return 0
  fi
  # an existing cluster needs the binaries of its own major version
  if [ -n "$want" ] && has_server "/usr/lib/postgresql/$want/bin"; then
    BINDIR="/usr/lib/postgresql/$want/bin"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    d="$(pg_config --bindir 2>/dev/null || true)"
    if has_server "$d"; then BINDIR="$d"; return 0; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin 2>/dev/null | sort -V -r); do
    if has_server "$d"; then BINDIR="$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then
    d="$(dirname "$(command -v initdb)")"
    if has_server "$d"; then BINDIR="$d"; return 0; fi
  fi
  return 1
}

ensure_server() {
  find_bindir && return 0
  if [ "$IS_ROOT" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    say "no PostgreSQL server found; installing it with apt-get (Debian's default cluster is not used)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq postgresql; } >"$INFRA_DIR/apt-postgresql.log" 2>&1 ||
      { tail -n 30 "$INFRA_DIR/apt-postgresql.log" >&2; fail "apt-get install postgresql failed"; }
    find_bindir && return 0
  fi
  fail "no PostgreSQL server binaries (postgres, initdb, pg_ctl) found; install PostgreSQL (e.g. apt-get install postgresql) or set MAROPS_PG_BINDIR"
}

if [ "$IS_ROOT" = 1 ]; then
  # initdb and postgres refuse to run as root: the cluster belongs to the `postgres` user.
  as_pg() { (cd / && runuser -u postgres -- env LC_ALL=C LANG=C "$@"); }
else
  as_pg() { (cd / && env LC_ALL=C LANG=C "$@"); }
fi

ensure_os_user() {
  [ "$IS_ROOT" = 1 ] || return 0
  id -u postgres >/dev/null 2>&1 && return 0
  say "creating the 'postgres' OS user"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres ||
    fail "could not create the 'postgres' OS user"
}

# Directories the cluster's OS user must own, and be able to reach.
prepare_dirs() {
  mkdir -p "$PGDIR" "$SOCKDIR"
  [ "$IS_ROOT" = 1 ] || return 0
  chown postgres:postgres "$PGDIR" "$SOCKDIR"
  chmod 0755 "$SOCKDIR"
  [ -f "$LOG" ] && chown postgres:postgres "$LOG"
  if [ -d "$DATA" ] && [ "$(stat -c %U "$DATA")" != postgres ]; then
    chown -R postgres:postgres "$DATA"
  fi
  if ! runuser -u postgres -- test -w "$PGDIR"; then
    # a parent directory is not searchable by others (e.g. a checkout under /root):
    # grant search (x) only, never read, on the path down to the infra directory
    local d="$PGDIR"
    while [ "$d" != / ]; do
      d="$(dirname "$d")"
      if ! runuser -u postgres -- test -x "$d"; then
        say "granting o+x on $d so the postgres user can reach $PGDIR"
        chmod o+x "$d"
      fi
    done
    runuser -u postgres -- test -w "$PGDIR" || fail "the postgres OS user cannot write to $PGDIR"
  fi
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  local tmp="$PGDIR/data.init"
  rm -rf "$tmp"
  say "initdb into $DATA ($("$BINDIR/postgres" --version))"
  if ! as_pg "$BINDIR/initdb" -D "$tmp" -U postgres -A trust -E UTF8 --locale=C >"$PGDIR/initdb.log" 2>&1; then
    cat "$PGDIR/initdb.log" >&2
    fail "initdb failed (output above)"
  fi
  cat >"$tmp/pg_hba.conf" <<'EOF'
# Generated by infra/postgres.sh: trust, on the unix socket and loopback only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
  printf "\n# marops: settings managed by infra/postgres.sh\ninclude_if_exists = 'marops.conf'\n" >>"$tmp/postgresql.conf"
  [ "$IS_ROOT" = 1 ] && chown -R postgres:postgres "$tmp"
  mv "$tmp" "$DATA"
}

write_config() {
  cat >"$DATA/marops.conf" <<EOF
# Generated by infra/postgres.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKDIR'
max_connections = 300
fsync = $FSYNC
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
  [ "$IS_ROOT" = 1 ] && chown postgres:postgres "$DATA/marops.conf"
  return 0
}

accepting() { "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1; }
ours_running() { [ -f "$DATA/PG_VERSION" ] && as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() {
  # the cluster's bootstrap superuser is `postgres`; a server we did not create may only know marops
  local user
  for user in postgres "$APP_ROLE"; do
    if PGCONNECT_TIMEOUT=5 "$BINDIR/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$user" -d postgres \
      -c 'select 1' >/dev/null 2>&1; then
      PGCONNECT_TIMEOUT=5 "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$PORT" -U "$user" -d postgres "$@"
      return
    fi
  done
  echo "cannot connect to 127.0.0.1:$PORT as postgres or $APP_ROLE without a password" >&2
  return 1
}

ensure_databases() {
  local out db existing
  out="$(psql_admin -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
        CREATE ROLE $APP_ROLE SUPERUSER LOGIN;
      END IF; END \$\$;" 2>&1)" || fail "could not create role $APP_ROLE: $out"
  existing="$(psql_admin -c "SELECT datname FROM pg_database" 2>&1)" || fail "could not list databases: $existing"
  for db in $DATABASES; do
    if ! grep -qx "$db" <<<"$existing"; then
      out="$(psql_admin -c "CREATE DATABASE $db OWNER $APP_ROLE" 2>&1)" || fail "could not create database $db: $out"
      say "created database $db"
    fi
  done
}

start() {
  mkdir -p "$PGDIR"
  exec 9>"$PGDIR/.lock"
  flock -w 600 9 || fail "timed out waiting for another infra/postgres.sh to finish"
  ensure_server
  if accepting; then
    if ours_running; then say "already running; reusing it"; else
      say "a server already answers on 127.0.0.1:$PORT (not started from $PGDIR); reusing it"
    fi
  else
    ensure_os_user
    prepare_dirs
    init_cluster
    write_config
    if [ -f "$LOG" ]; then mv -f "$LOG" "$LOG.1"; fi
    if [ "$IS_ROOT" = 1 ]; then
      touch "$LOG" && chown postgres:postgres "$LOG"
    fi
    say "starting PostgreSQL on 127.0.0.1:$PORT, log $LOG"
    local t0=$SECONDS
    as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" -s start 9>&- ||
      fail "pg_ctl start failed"
    accepting || fail "the server started but does not accept connections on 127.0.0.1:$PORT"
    say "started in $((SECONDS - t0))s"
  fi
  ensure_databases
  say "ready on 127.0.0.1:$PORT: postgresql://$APP_ROLE@127.0.0.1:$PORT/<db> (dbs: $DATABASES)"
}

stop() {
  if ! find_bindir; then say "no PostgreSQL binaries; nothing to stop"; return 0; fi
  if ours_running; then
    say "stopping"
    as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop || fail "pg_ctl stop failed"
    say "stopped"
  elif accepting; then
    say "a server on 127.0.0.1:$PORT was not started from $PGDIR; leaving it alone"
  else
    say "not running"
  fi
}

status() {
  if ! find_bindir; then say "no PostgreSQL binaries found"; return 3; fi
  if ours_running; then
    say "running on 127.0.0.1:$PORT (data $DATA, log $LOG)"
  elif accepting; then
    say "something answers on 127.0.0.1:$PORT (not started from $PGDIR)"
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
