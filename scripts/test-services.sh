#!/usr/bin/env bash
# Starts (or stops) throwaway test services on loopback: a PostgreSQL cluster and an
# S3-compatible server (moto). Prints the environment the tests read.
#   eval "$(scripts/test-services.sh start)"   ...   scripts/test-services.sh stop
# Needs Debian's `postgresql` package and `pip install 'moto[server]'`.
set -euo pipefail
state=${GRANARY_SERVICES_DIR:-/tmp/granary-test-services}
pg_port=${GRANARY_PG_PORT:-54329}
s3_port=${GRANARY_S3_PORT:-54330}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "$d"
}

case "${1:-}" in
start)
  mkdir -p "$state"
  bin=$(pg_bin)
  if [ ! -f "$state/pg/PG_VERSION" ]; then
    mkdir -p "$state/pg" "$state/pglog"
    chown -R postgres:postgres "$state/pg" "$state/pglog"
    su postgres -s /bin/sh -c "$bin/initdb -D $state/pg -A trust -U postgres" >"$state/initdb.log" 2>&1
  fi
  if ! su postgres -s /bin/sh -c "$bin/pg_ctl -D $state/pg status" >/dev/null 2>&1; then
    su postgres -s /bin/sh -c "$bin/pg_ctl -D $state/pg -l $state/pglog/pg.log -w -o '-c listen_addresses=127.0.0.1 -p $pg_port -k $state/pg -c max_connections=300 -c fsync=off' start" >/dev/null
  fi
  if ! curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; then
    nohup python3 -m moto.server -H 127.0.0.1 -p "$s3_port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/moto.pid"
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break; sleep 0.1; done
  fi
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$s3_port/granary-test"
  echo "export GRANARY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/postgres"
  echo "export GRANARY_TEST_S3_URL='s3://granary-test?endpoint=http://127.0.0.1:$s3_port&region=us-east-1'"
  echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
  ;;
stop)
  bin=$(pg_bin)
  [ -f "$state/pg/PG_VERSION" ] && su postgres -s /bin/sh -c "$bin/pg_ctl -D $state/pg -m fast stop" >/dev/null 2>&1 || true
  [ -f "$state/moto.pid" ] && kill "$(cat "$state/moto.pid")" 2>/dev/null || true
  rm -rf "$state"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
