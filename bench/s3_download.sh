#!/usr/bin/env bash
# Downloads from an S3 blob store, side by side on loopback: one random blob fetched through
# granary (release, SQLite metadata, `--blob-store s3://…`, the default `stream` download
# mode) and straight from the object store (a presigned GET made with boto3; the loopback
# test server accepts any credentials), interleaved, curl as the client. Prints every run, the medians, the ratio, and
# the server's peak RSS while it streamed (VmHWM, reset after the upload).
#   Usage: S3_URL='s3://BUCKET?endpoint=http://127.0.0.1:PORT&region=us-east-1' \
#            bench/s3_download.sh [SIZE_MIB] [RUNS]          (defaults 256, 5)
#   S3_URL: an S3-compatible server on loopback that accepts any credentials, e.g. the moto
#   server of scripts/test-services.sh (its GRANARY_TEST_S3_URL). Needs boto3.
set -euo pipefail
size_mib=${1:-256}
runs=${2:-5}
: "${S3_URL:?set S3_URL, e.g. from: eval \"\$(scripts/test-services.sh start)\"; S3_URL=\$GRANARY_TEST_S3_URL}"
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -p granary --manifest-path "$root/Cargo.toml" >/dev/null
bin="$root/target/release/granary"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

bucket=${S3_URL#s3://}
bucket=${bucket%%\?*}
bucket=${bucket%%/*}
query=${S3_URL#*\?}
endpoint=$(tr '&' '\n' <<<"$query" | sed -n 's/^endpoint=//p')
case "$endpoint" in
  http://127.*|http://localhost*) ;;
  *) echo "s3_download.sh: only loopback object stores (endpoint=$endpoint)" >&2; exit 2 ;;
esac
prefix="bench-s3-download-$$"
store="s3://$bucket/$prefix?$query"

"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --blob-store "$store" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^granary listening on //p' "$work/out")
[ -n "$url" ] || { echo "the server did not start:" >&2; cat "$work/err" >&2; exit 1; }
key=$(cat "$work/data/initial-admin-key")
auth=(-H "Authorization: Bearer $key")

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/blob"
hex=$(sha256sum "$work/blob" | cut -d' ' -f1)
digest="sha256:$hex"
curl -sSf -o /dev/null -X POST "${auth[@]}" -T "$work/blob" "$url/api/v1/default/bench/blobs/uploads?digest=$digest"
# The object's key, found by listing the prefix.
object=$(curl -sSf "$endpoint/$bucket?list-type=2&prefix=$prefix/" | grep -o "<Key>[^<]*$hex</Key>" | sed 's/<[^>]*>//g' | head -n 1)
[ -n "$object" ] || { echo "s3_download.sh: the uploaded blob is not in $endpoint/$bucket/$prefix/" >&2; exit 1; }
direct=$(python3 - "$endpoint" "$bucket" "$object" <<'PY'
import sys, boto3
endpoint, bucket, key = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="bench", aws_secret_access_key="bench")
print(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600))
PY
)
echo 5 >"/proc/$pid/clear_refs"  # resets VmHWM: the peak below is the downloads'

t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
g_down() { curl -sSf -o /dev/null "${auth[@]}" "$url/api/v1/default/blobs/$digest"; }
s_down() { curl -sSf -o /dev/null "$direct"; }
curl -sSf -o "$work/got" "${auth[@]}" "$url/api/v1/default/blobs/$digest"
cmp -s "$work/got" "$work/blob" || { echo "s3_download.sh: granary served other bytes" >&2; exit 1; }
rm -f "$work/got"

: >"$work/g"; : >"$work/s"
echo "blob ${size_mib} MiB on $endpoint, ${runs} interleaved runs"
for i in $(seq "$runs"); do
  a=$(t g_down); b=$(t s_down)
  echo "$a" >>"$work/g"; echo "$b" >>"$work/s"
  printf 'run %d: granary (stream) %s s, object store directly %s s\n' "$i" "$a" "$b"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
g=$(median "$work/g") s=$(median "$work/s")
peak=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
awk -v g="$g" -v s="$s" -v p="$peak" 'BEGIN {
  printf "median download: granary %.2f s, object store %.2f s (granary/object store %.2f); server peak RSS while streaming %s MiB\n", g, s, g / s, p }'
python3 - "$endpoint" "$bucket" "$object" <<'PY' || true
import sys, boto3
endpoint, bucket, key = sys.argv[1:4]
boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
             aws_secret_access_key="bench").delete_object(Bucket=bucket, Key=key)
PY
