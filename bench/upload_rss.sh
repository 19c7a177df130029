#!/usr/bin/env bash
# Pushes one large blob through a release server with curl (POST, streamed PATCH, PUT) and
# reports throughput and the server's peak memory. Shows that upload memory does not grow
# with blob size.   Usage: bench/upload_rss.sh [SIZE_MIB]   (default 2048)
set -euo pipefail
size_mib=${1:-2048}
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
rss_idle=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/blob"
digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
loc=$(curl -sS -D - -o /dev/null -X POST -H "Authorization: Bearer $key" "$url/api/v1/default/bench/blobs/uploads/" \
  | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
start=$(date +%s.%N)
curl -sS -f -o /dev/null -X PATCH -H "Authorization: Bearer $key" -H "Content-Type: application/octet-stream" \
  -T "$work/blob" "$loc"
curl -sS -f -o /dev/null -X PUT -H "Authorization: Bearer $key" "$loc?digest=$digest"
end=$(date +%s.%N)
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v s="$start" -v e="$end" -v m="$size_mib" \
  'BEGIN { printf "blob: %d MiB  upload+verify+commit: %.2f s  (%.0f MiB/s)\n", m, e - s, m / (e - s) }'
printf 'server peak RSS: %d MiB before, %d MiB after\n' "$((rss_idle / 1024))" "$((rss_peak / 1024))"
