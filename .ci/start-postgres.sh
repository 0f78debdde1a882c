#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the distributed tests and print the URL.
# Runs the server as the `postgres` user when called as root (postgres refuses to run as root).
# Usage: eval "$(bash .ci/start-postgres.sh)"   -> exports RNNPPO_TEST_POSTGRES_URL
set -euo pipefail
# A free port unless one is given (a server left running on a fixed port would make this one fail).
PORT="${RNNPPO_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PGBIN="$(find_bin)"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing postgresql with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    PGBIN="$(find_bin)"
  fi
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "PostgreSQL is not installed and cannot be installed here; postgres tests will skip" >&2
  exit 0
fi

DATA="$(mktemp -d /tmp/rnnppo-pg.XXXXXX)"
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DATA"; chmod 700 "$DATA"; fi
as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
as_pg "$PGBIN/psql" -h "$DATA" -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE rnnppo LOGIN PASSWORD 'rnnppo-ci-pw'" \
  -c "CREATE DATABASE rnnppo_test OWNER rnnppo" >/dev/null
echo "export RNNPPO_TEST_POSTGRES_URL=postgresql://rnnppo:rnnppo-ci-pw@127.0.0.1:$PORT/rnnppo_test"
echo "export RNNPPO_TEST_POSTGRES_DATA=$DATA"
echo "export RNNPPO_TEST_POSTGRES_BIN=$PGBIN"
