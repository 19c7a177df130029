#!/usr/bin/env bash
# Interrupted transfers with the CLI: a push of one parquet file (MiB) whose server is
# killed (-9) halfway and restarted, then the push run again — against an uninterrupted
# push of the same file; and a pull whose client is killed halfway, run again — against an
# uninterrupted pull. Prints the time of each, the bytes the resumed run found already
# moved, and the download count the interrupted pull left (it must be 1). Release server,
# SQLite + local disk.
#   Usage: bench/cli-resume.sh [MIB]   (default 1024; needs pyarrow)
set -euo pipefail
mib=${1:-1024}
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export GRANARY_CONFIG_DIR="$work/cfg" GRANARY_CACHE_DIR="$work/cache"
addr=${url#http://}

ds="$work/ds"
mkdir -p "$ds"
python3 - "$ds" "$mib" <<'PY'
import os, sys
import pyarrow as pa, pyarrow.parquet as pq
d, mib = sys.argv[1], int(sys.argv[2])
rows = mib * 1024  # 1 KiB of random bytes per row
pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64()),
                         "blob": pa.array([os.urandom(1024) for _ in range(rows)], pa.binary())}),
               f"{d}/train.parquet", compression="none")
PY
size=$(stat -c %s "$ds/train.parquet")
"$bin" login --server "$url" --api-key "$key" >/dev/null
now() { date +%s.%N; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }
held() { find "$work/data/blobs/uploads" -name 'part-*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
restart() {
  "$bin" serve --listen "$addr" --data-dir "$work/data" >"$work/out" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$url/api/v1/health" && return; sleep 0.1; done
}
forget() { rm -rf "$work/data/blobs/blobs/default" "$GRANARY_CACHE_DIR"; }

# 1. an uninterrupted push
printf 'name: resume\nversion: 1.0.0\n' >"$ds/dataset.yaml"
forget
s=$(now); "$bin" dataset push "$ds" -q >/dev/null 2>&1; e=$(now)
full_push=$(secs "$s" "$e")

# 2. the server killed halfway, restarted, the push run again
printf 'name: resume\nversion: 1.0.1\n' >"$ds/dataset.yaml"
forget
"$bin" dataset push "$ds" -q >/dev/null 2>"$work/push-1.err" &
client=$!
until [ "$(held)" -ge $((size / 2)) ]; do sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
wait "$client" || true
before=$(held)
restart
s=$(now); "$bin" dataset push "$ds" -q >/dev/null 2>"$work/push-2.err"; e=$(now)
resumed_push=$(secs "$s" "$e")
grep -q "resuming the upload at" "$work/push-2.err" || { echo "the second push did not resume:" >&2; cat "$work/push-2.err" >&2; exit 1; }

# 3. an uninterrupted pull
rm -rf "$work/out-a"
s=$(now); "$bin" dataset pull resume@1.0.0 -o "$work/out-a" -q >/dev/null 2>&1; e=$(now)
full_pull=$(secs "$s" "$e")

# 4. the client killed halfway, the pull run again
rm -rf "$work/out-b"
"$bin" dataset pull resume@1.0.1 -o "$work/out-b" -q >/dev/null 2>&1 &
client=$!
until [ "$(stat -c %s "$work/out-b/train.parquet.part" 2>/dev/null || echo 0)" -ge $((size / 2)) ]; do sleep 0.05; done
kill -9 "$client"; wait "$client" 2>/dev/null || true
part=$(stat -c %s "$work/out-b/train.parquet.part")
s=$(now); "$bin" dataset pull resume@1.0.1 -o "$work/out-b" -q >/dev/null 2>&1; e=$(now)
resumed_pull=$(secs "$s" "$e")
cmp -s "$work/out-b/train.parquet" "$ds/train.parquet" || { echo "pulled bytes differ" >&2; exit 1; }
downloads=$("$bin" dataset info resume@1.0.1 --json | jq -r .download_count)

mibs() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
echo "file: $(mibs "$size") parquet"
echo "push: uninterrupted ${full_push} s | server killed at $(mibs "$before") held, restarted: the second push ${resumed_push} s"
echo "pull: uninterrupted ${full_pull} s | client killed at $(mibs "$part"), the second pull ${resumed_pull} s; downloads counted: ${downloads}"
