#!/usr/bin/env bash
# Soak test of a running server: a mixed read load (list, facets, detail, preview, download
# POST, signed-link GET; see soak.lua) in one-minute rounds of wrk, printing per minute the
# throughput, p99 latency, non-2xx/3xx responses and the server's resident memory.
#
#   URL=http://127.0.0.1:8080 KEY=gra_... PID=<server pid> bench/soak.sh
#
# Environment: URL, KEY (required); PID (server process, for RSS; optional); DURATION
# (minutes, default 30); THREADS (2); CONNECTIONS (32); ORG (default); DATASETS
# ("name/version,…"; default: the first 5 versions the list endpoint returns); MIX (route
# weights, see soak.lua). Only loopback URLs are accepted.
set -euo pipefail
: "${URL:?set URL to the server, e.g. http://127.0.0.1:8080}"
: "${KEY:?set KEY to an API key}"
DURATION=${DURATION:-30}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ORG=${ORG:-default}
PID=${PID:-}
URL=${URL%/}
case "$URL" in
  http://127.*|http://localhost*|http://\[::1\]*) ;;
  *) echo "soak.sh: only loopback servers (127.0.0.0/8, localhost, [::1])" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "soak.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
api="$URL/api/v1/org/$ORG/datasets"
auth=(-H "Authorization: Bearer $KEY")

if [ -z "${DATASETS:-}" ]; then
  DATASETS=$(curl -sSf "${auth[@]}" "$api?limit=5" \
    | grep -o '"name":"[^"]*",[^}]*"version":"[^"]*"' \
    | sed -E 's/^"name":"([^"]*\/)?([^"\/]*)".*"version":"([^"]*)"$/\2\/\3/' | paste -sd, -)
fi
[ -n "$DATASETS" ] || { echo "soak.sh: no datasets to ask for; publish one or set DATASETS" >&2; exit 2; }
export KEY ORG DATASETS MIX="${MIX:-}" LINKS="$work/links"

# RSS, and its anonymous part (heap, stacks: what the process allocated) and file-backed
# part (the binary's pages as code paths are first run, shared libraries, SQLite's -shm).
rss() {
  if [ -n "$PID" ] && [ -r "/proc/$PID/status" ]; then
    awk '/^VmRSS/ {t = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
      END {printf "%10.1f %10.1f %10.1f", t / 1024, a / 1024, f / 1024}' "/proc/$PID/status"
  else
    printf '%10s %10s %10s' - - -
  fi
}

# The heap allocator's own figures from /metrics: live allocations and what it holds in
# physical memory (0 in builds without jemalloc). Growth in "heap live" is objects kept;
# growth in RSS alone is pages not yet given back or outside the heap.
heap() {
  curl -sS --max-time 5 "$URL/metrics" 2>/dev/null | awk '
    /^granary_allocator_allocated_bytes / {a = $2} /^granary_allocator_resident_bytes / {r = $2}
    END {if (a == "") printf "%10s %10s", "-", "-"; else printf "%10.1f %10.1f", a / 1048576, r / 1048576}'
}

echo "target $URL  datasets $DATASETS  wrk -t$THREADS -c$CONNECTIONS  ${DURATION} x 1 min"
printf '%-6s %10s %10s %8s %8s %10s %10s %10s %10s %10s\n' minute "req/s" "p99 ms" "bad" sockerr "RSS MiB" "anon MiB" "file MiB" "heap live" "heap held"
printf '%-6s %10s %10s %8s %8s %s %s\n' 0 - - - - "$(rss)" "$(heap)"
for minute in $(seq 1 "$DURATION"); do
  # Fresh signed links each round (each POST counts one download), so none expires mid-run.
  : >"$LINKS"
  IFS=, read -ra ds <<<"$DATASETS"
  for d in "${ds[@]}"; do
    curl -sSf -X POST "${auth[@]}" -H 'Content-Type: application/json' -d '{}' "$api/$d/download" \
      | grep -o '"url":"[^"]*"' | sed -E 's/^"url":"[a-z]+:\/\/[^/]*(\/[^"]*)"$/\1/' >>"$LINKS" || true
  done
  sort -u -o "$LINKS" "$LINKS"
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d60s -s "$here/soak.lua" "$URL" 2>&1 || true)
  line=$(grep '^SOAK ' <<<"$out" || true)
  if [ -z "$line" ]; then
    echo "soak.sh: wrk failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  val() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
  printf '%-6s %10s %10s %8s %8s %s %s\n' "$minute" "$(val rps)" "$(val p99_ms)" "$(val bad)" "$(val sockerr)" "$(rss)" "$(heap)"
done
