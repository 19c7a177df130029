#!/usr/bin/env bash
# Ingest of one blob through the /s3 endpoint (multipart, 50 MiB parts, 4 in flight) side by
# side with the same bytes through granary's own OCI upload route (one
# `POST …/blobs/uploads?digest=` with curl), interleaved, on a release server over SQLite +
# local disk; prints every run, the medians, their ratio and the server's peak RSS. The /s3
# upload runs twice per round: with curl sending the parts to presigned URLs (the same client
# as the OCI side: the ratio compares the server paths) and with boto3 sending them itself.
#   Usage: bench/s3_ingest.sh [SIZE_MIB] [RUNS]   (defaults 1024, 5; needs python3 + boto3)
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-5}
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/blob"
hex=$(sha256sum "$work/blob" | cut -d' ' -f1)
stored="$work/data/blobs/blobs/default/sha256/${hex:0:2}/$hex"

oci() {
  local s e
  s=$(date +%s.%N)
  curl -sS -f -o /dev/null -X POST -H "Authorization: Bearer $key" -H "Content-Type: application/octet-stream" \
    -T "$work/blob" "$url/api/v1/default/bench/blobs/uploads?digest=sha256:$hex"
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}
s3() { python3 "$root/bench/s3_put.py" "$url" "$key" "$work/blob" "$hex" "$1"; }

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$work/oci"; : >"$work/s3"; : >"$work/boto3"
echo "blob ${size_mib} MiB, ${runs} interleaved runs each"
for i in $(seq "$runs"); do
  rm -f "$stored"; t_oci=$(oci); echo "$t_oci" >>"$work/oci"
  [ -f "$stored" ] || { echo "OCI upload did not store the blob" >&2; exit 1; }
  rm -f "$stored"; t_s3=$(s3 curl); echo "$t_s3" >>"$work/s3"
  [ -f "$stored" ] || { echo "/s3 upload did not store the blob" >&2; exit 1; }
  rm -f "$stored"; t_boto3=$(s3 boto3); echo "$t_boto3" >>"$work/boto3"
  [ -f "$stored" ] || { echo "/s3 upload (boto3) did not store the blob" >&2; exit 1; }
  printf 'run %d: OCI %s s   /s3 multipart (curl) %s s   /s3 multipart (boto3) %s s\n' "$i" "$t_oci" "$t_s3" "$t_boto3"
done
m_oci=$(median <"$work/oci"); m_s3=$(median <"$work/s3"); m_boto3=$(median <"$work/boto3")
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v a="$m_oci" -v b="$m_s3" -v c="$m_boto3" -v m="$size_mib" 'BEGIN {
  printf "median: OCI %.2f s (%.0f MiB/s)   /s3 (curl) %.2f s (%.0f MiB/s)   /s3 / OCI = %.2f\n", a, m / a, b, m / b, b / a
  printf "        /s3 (boto3) %.2f s (%.0f MiB/s)   boto3 / OCI = %.2f\n", c, m / c, c / a }'
printf 'server RSS: %d MiB idle, %d MiB peak\n' "$((rss_idle / 1024))" "$((rss_peak / 1024))"
