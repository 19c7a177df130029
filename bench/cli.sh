#!/usr/bin/env bash
# The CLI beside curl on the same bytes: a dataset of one parquet and one csv file (sizes in
# MiB), pushed with `granary dataset push` against uploading its files with curl (one
# `POST …/blobs/uploads?digest=` each: the raw upload), and pulled with
# `granary dataset pull` against curl on the same signed links. Release server, SQLite +
# local disk, interleaved runs, the stored blobs and the CLI's digest cache removed before
# every push; prints every run, the medians and the ratios.
#   Usage: bench/cli.sh [PARQUET_MIB] [CSV_MIB] [RUNS]   (defaults 768, 256, 5; needs pyarrow)
set -euo pipefail
pq_mib=${1:-768}
csv_mib=${2:-256}
runs=${3:-5}
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export GRANARY_CONFIG_DIR="$work/cfg" GRANARY_CACHE_DIR="$work/cache"

ds="$work/ds"
mkdir -p "$ds/data"
python3 - "$ds" "$pq_mib" "$csv_mib" <<'PY'
import os, sys
import pyarrow as pa, pyarrow.parquet as pq
d, pq_mib, csv_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = pq_mib * 1024  # 1 KiB of random bytes per row
pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64()),
                         "blob": pa.array([os.urandom(1024) for _ in range(rows)], pa.binary())}),
               f"{d}/data/train.parquet", compression="none")
with open(f"{d}/data/test.csv", "w") as f:
    f.write("id,text\n")
    i = 0
    while f.tell() < csv_mib << 20:
        f.write(f"{i},{os.urandom(48).hex()}\n")
        i += 1
PY
files=("$ds/data/train.parquet" "$ds/data/test.csv")
declare -A digest
for f in "${files[@]}"; do digest[$f]="sha256:$(sha256sum "$f" | cut -d' ' -f1)"; done
"$bin" login --server "$url" --api-key "$key" >/dev/null

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
forget() { rm -rf "$work/data/blobs/blobs/default" "$GRANARY_CACHE_DIR"; }
raw_up() {
  for f in "${files[@]}"; do
    curl -sSf -o /dev/null -X POST -H "Authorization: Bearer $key" -T "$f" \
      "$url/api/v1/default/bench/blobs/uploads?digest=${digest[$f]}"
  done
}
push() { "$bin" dataset push "$ds"; }
pull() { rm -rf "$work/out"; "$bin" dataset pull "default/bench@$1" --output "$work/out"; }
curl_pull() {
  rm -rf "$work/curl"; mkdir -p "$work/curl"
  curl -sSf -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{}' \
    "$url/api/v1/org/default/datasets/bench/$1/download" | jq -r '.files[].url' >"$work/links"
  local n=0
  while read -r link; do n=$((n + 1)); curl -sSf -o "$work/curl/$n" "$link"; done <"$work/links"
}

for f in raw push pull curl; do : >"$work/res-$f"; done
echo "dataset: ${pq_mib} MiB parquet + ${csv_mib} MiB csv, ${runs} interleaved runs"
for i in $(seq "$runs"); do
  v="1.0.$i"
  printf 'name: bench\nversion: %s\nsplits:\n  train: data/train.parquet\n  test: data/test.csv\n' "$v" >"$ds/dataset.yaml"
  forget; a=$(t raw_up)
  forget; b=$(t push)
  c=$(t pull "$v"); d=$(t curl_pull "$v")
  cmp -s "$work/out/data/train.parquet" "$ds/data/train.parquet" || { echo "pulled bytes differ" >&2; exit 1; }
  echo "$a" >>"$work/res-raw"; echo "$b" >>"$work/res-push"; echo "$c" >>"$work/res-pull"; echo "$d" >>"$work/res-curl"
  printf 'run %d: upload curl %s s, granary push %s s | download curl %s s, granary pull %s s\n' "$i" "$a" "$b" "$d" "$c"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
awk -v a="$(median "$work/res-raw")" -v b="$(median "$work/res-push")" -v c="$(median "$work/res-pull")" -v d="$(median "$work/res-curl")" 'BEGIN {
  printf "median: push %.2f s vs raw upload %.2f s (%.2fx) | pull %.2f s vs curl %.2f s (%.2fx)\n", b, a, b / a, c, d, c / d }'
