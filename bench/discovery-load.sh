#!/usr/bin/env bash
# Discovery under concurrency: seeds a registry (`granary admin seed-demo`: VERSIONS versions,
# EVENTS download events, 50 orgs), starts a release server on it and runs wrk against the
# list endpoint (5 query shapes), facets, activity, a dataset's detail, a detail that does
# not exist, and `GET /api/v1/user` (authenticated and trivial: the ceiling), as org-00's
# owner. Prints req/s, p99 and each route's share of the ceiling.
#
#   bench/discovery-load.sh [sqlite|postgres]...        (default: sqlite)
#
# Environment: VERSIONS (100000), EVENTS (10000000), CONNECTIONS (64), THREADS (2),
# DURATION (10s); DATA (where seeded data is kept between runs, default
# /tmp/granary-discovery); PG_URL, a PostgreSQL server for `postgres` (for example
# postgres://postgres@127.0.0.1:54329/postgres from scripts/test-services.sh; a database
# `granary_discovery_<versions>_<events>` is created there). Seeding 100,000 versions and
# 10,000,000 events takes minutes; it is done once per DATA/database and reused.
set -euo pipefail
VERSIONS=${VERSIONS:-100000}
EVENTS=${EVENTS:-10000000}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
DATA=${DATA:-/tmp/granary-discovery}
root=$(cd "$(dirname "$0")/.." && pwd)
for tool in wrk jq curl; do
  command -v "$tool" >/dev/null || { echo "discovery-load.sh: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done
cargo build --release -p granary --manifest-path "$root/Cargo.toml" >/dev/null
bin="$root/target/release/granary"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT

# wrk's p99 ("99%  12.34ms") in milliseconds.
p99_ms() {
  awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v)
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.1f", v }'
}

run() {
  local backend=$1 dir=$2 store_args=()
  mkdir -p "$dir"
  if [ "$backend" = postgres ]; then
    : "${PG_URL:?set PG_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:54329/postgres}"
    local db="granary_discovery_${VERSIONS}_${EVENTS}"
    psql -q "$PG_URL" -c "CREATE DATABASE $db" 2>/dev/null || true
    store_args=(--database-url "${PG_URL%/*}/$db")
  fi
  local admin=("$bin" admin --data-dir "$dir" "${store_args[@]}")
  if [ ! -f "$dir/seeded" ]; then
    echo "seeding $backend: $VERSIONS versions, $EVENTS events"
    "${admin[@]}" seed-demo --versions "$VERSIONS" --events "$EVENTS" | tail -n 1
    touch "$dir/seeded"
  fi
  local key
  key=$("${admin[@]}" key create user-00-0 --name discovery-load)
  # One key at full speed: rate limits (on by default when scaled out) are off.
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir" "${store_args[@]}" --rate-limit off >"$dir/serve.out" 2>"$dir/serve.err" &
  pid=$!
  for _ in $(seq 300); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.1; done
  local url
  url=$(sed -n 's/^granary listening on //p' "$dir/serve.out")
  [ -n "$url" ] || { echo "the server did not start:" >&2; cat "$dir/serve.err" >&2; exit 1; }
  local api="$url/api/v1/org/org-00"
  local auth=(-H "Authorization: Bearer $key")
  local name
  name=$(curl -sSf "${auth[@]}" "$api/datasets?limit=1" | jq -r '.datasets[0].name' | sed 's|.*/||')
  # Warm the catalog and the caches before measuring.
  curl -sSf "${auth[@]}" "$api/datasets?include_public=true" >/dev/null

  local routes=(
    "user (ceiling)|$url/api/v1/user"
    "list, own org|$api/datasets?limit=50"
    "list, include_public|$api/datasets?include_public=true&limit=50"
    "list, include_public, name asc, page 100|$api/datasets?include_public=true&sort_by=name&sort_dir=asc&page=100"
    "list, tags nlp or qa, license mit|$api/datasets?include_public=true&tags=nlp&tags=qa&license=mit"
    "list, search 'recipes'|$api/datasets?include_public=true&search=recipes"
    "facets, include_public|$api/datasets/facets?include_public=true"
    "activity, first page|$api/datasets/activity?limit=50"
    "detail|$api/datasets/$name"
    "detail, not found (404)|$api/datasets/no-such-dataset"
  )
  echo
  echo "$backend: $VERSIONS versions, $EVENTS events; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(date -u +%F)"
  printf '%-42s %10s %9s %10s\n' route "req/s" "p99 ms" "of ceiling"
  local ceiling=
  for r in "${routes[@]}"; do
    local label=${r%%|*} target=${r#*|} out rps p99
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${auth[@]}" "$target")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    p99=$(p99_ms <<<"$out")
    if grep -q "Non-2xx or 3xx responses" <<<"$out" && [ "${label#detail, not found}" = "$label" ]; then
      echo "  $label: $(grep 'Non-2xx' <<<"$out")" >&2
    fi
    [ -z "$ceiling" ] && ceiling=$rps
    printf '%-42s %10s %9s %9.0f%%\n' "$label" "$rps" "$p99" "$(awk -v a="$rps" -v b="$ceiling" 'BEGIN { print 100 * a / b }')"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(sqlite)
for b in "${backends[@]}"; do
  case "$b" in
    sqlite) run sqlite "$DATA/sqlite-${VERSIONS}-${EVENTS}" ;;
    postgres) run postgres "$DATA/postgres-${VERSIONS}-${EVENTS}" ;;
    *) echo "unknown backend $b: use sqlite or postgres" >&2; exit 2 ;;
  esac
done
