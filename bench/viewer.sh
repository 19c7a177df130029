#!/usr/bin/env bash
# The dataset viewer, granary release (SQLite + local disk) on loopback, side by side with
# pyarrow where pyarrow does the same work:
#   - rows at offset ROWS-100 (length 100) of a ROWS-row parquet dataset: 50 requests, p50 and p95;
#   - search (`query=`) and filter (`where=`) first page over the same dataset: RUNS each, median;
#   - the statistics job over it: parquet bytes per second (three passes over the file);
#   - csv → parquet on a CSV_MIB csv: granary's rendition (the viewer job's, timed by the job:
#     local csv file to local parquet file, as pyarrow's) against pyarrow.csv.read_csv +
#     pyarrow.parquet.write_table of the same file; medians of RUNS, and the ratio; then the
#     job's storing of the parquet file as a blob (copy and digest check), which pyarrow
#     does not do; the job's peak RSS (GNU time), to show memory does not follow the
#     file's size.
# Usage: bench/viewer.sh [ROWS] [CSV_MIB] [RUNS]   (defaults 10000000, 1024, 3)
# Needs: python3 with pyarrow and numpy.
set -euo pipefail
rows=${1:-10000000}
csv_mib=${2:-1024}
runs=${3:-3}
SERVE_FLAGS="--no-viewer-jobs"
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME"
"$bin" login --server "$url" --api-key "$key" >/dev/null

mkdir -p "$work/big" "$work/csv"
python3 - "$work" "$rows" "$csv_mib" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq, pyarrow.csv as pcsv
work, rows, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ids = pa.array(np.arange(rows, dtype=np.int64))
t = pa.table({
    "id": ids,
    "name": pc.binary_join_element_wise("row ", pc.cast(ids, pa.string()), ""),
    "score": pa.array((np.arange(rows) * 0.37) % 1000.0),
    "flag": pa.array(np.arange(rows) % 3 == 0),
})
pq.write_table(t, f"{work}/big/big.parquet")
open(f"{work}/big/dataset.yaml", "w").write("name: big\nversion: 1.0.0\n")
# The csv: about `mib` MiB of rows like these.
n = mib * 1024 * 1024 // 64
ids = pa.array(np.arange(n, dtype=np.int64))
c = pa.table({
    "id": ids,
    "label": pc.binary_join_element_wise("item-", pc.cast(ids, pa.string()), ""),
    "value": pa.array(np.random.default_rng(1).normal(size=n)),
    "ok": pa.array(np.arange(n) % 2 == 0),
})
pcsv.write_csv(c, f"{work}/csv/data.csv")
open(f"{work}/csv/dataset.yaml", "w").write("name: csvbench\nversion: 1.0.0\n")
PY
pq_bytes=$(stat -c %s "$work/big/big.parquet")
csv_bytes=$(stat -c %s "$work/csv/data.csv")
echo "parquet: $rows rows, $pq_bytes bytes; csv: $csv_bytes bytes"

"$bin" dataset push "$work/big" >/dev/null 2>&1
report=$("$bin" admin viewer-run --data-dir "$work/data" --json)
stats_ms=$(echo "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["statistics_ms"])')
echo "statistics job: ${stats_ms} ms for $pq_bytes bytes"

auth=(-H "Authorization: Bearer $key")
api="$url/api/v1/org/default/datasets/big/1.0.0"
timed() { curl -s -o /dev/null -w '%{time_total}\n' "${auth[@]}" "$1"; }
offset=$((rows - 100))
curl -sf "${auth[@]}" "$api/rows?offset=$offset&length=100" | python3 -c "import json,sys; v=json.load(sys.stdin); assert v['rows'][0]['row_idx']==$offset and len(v['rows'])==100, v"
for _ in $(seq 50); do timed "$api/rows?offset=$offset&length=100"; done >"$work/rows.t"
search_q="query=row%20$((rows - 1))"
filter_q="where=score%20%3E%20998.5%20AND%20flag%20%3D%20true"
for _ in $(seq "$runs"); do timed "$api/search?$search_q"; done >"$work/search.t"
for _ in $(seq "$runs"); do timed "$api/filter?$filter_q"; done >"$work/filter.t"
curl -sf "${auth[@]}" "$api/search?$search_q" | python3 -c 'import json,sys; v=json.load(sys.stdin); print("search matches:", v["num_rows_total"], "partial:", v["partial"])'
curl -sf "${auth[@]}" "$api/filter?$filter_q" | python3 -c 'import json,sys; v=json.load(sys.stdin); print("filter matches:", v["num_rows_total"], "partial:", v["partial"])'

# csv → parquet: granary's rendition, a new version per run (the job runs once per version).
: >"$work/granary_csv.t"
: >"$work/store_csv.t"
for i in $(seq "$runs"); do
  "$bin" dataset push "$work/csv" --version "1.0.$i" >/dev/null 2>&1
  /usr/bin/time -f %M -o "$work/rss.$i" "$bin" admin viewer-run --data-dir "$work/data" --json >"$work/job.$i.json"
  python3 - "$work/job.$i.json" "$work/granary_csv.t" "$work/store_csv.t" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]["renditions"][0]
open(sys.argv[2], "a").write(f"{r['ms'] / 1000}\n")
open(sys.argv[3], "a").write(f"{r['store_ms'] / 1000}\n")
PY
  echo "viewer job on the csv: peak RSS $(cat "$work/rss.$i") KiB"
done
for _ in $(seq "$runs"); do
  python3 - "$work/csv/data.csv" "$work/pyarrow.parquet" <<'PY'
import sys, time, pyarrow.csv as c, pyarrow.parquet as q
t = time.perf_counter(); q.write_table(c.read_csv(sys.argv[1]), sys.argv[2]); print(time.perf_counter() - t)
PY
done >"$work/pyarrow_csv.t"

python3 - "$work" "$pq_bytes" "$stats_ms" "$csv_bytes" <<'PY'
import statistics, sys
work, pq_bytes, stats_ms, csv_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
read = lambda n: [float(x) for x in open(f"{work}/{n}.t").read().split()]
rows = sorted(read("rows"))
p95 = rows[int(round(0.95 * (len(rows) - 1)))]
print(f"rows at the last offset: p50 {statistics.median(rows)*1000:.1f} ms, p95 {p95*1000:.1f} ms (n={len(rows)})")
print(f"search first page: median {statistics.median(read('search'))*1000:.0f} ms; runs {read('search')}")
print(f"filter first page: median {statistics.median(read('filter'))*1000:.0f} ms; runs {read('filter')}")
print(f"statistics job: {pq_bytes / 1e6 / (stats_ms / 1000):.0f} MB/s of parquet ({stats_ms} ms)")
g, p = statistics.median(read("granary_csv")), statistics.median(read("pyarrow_csv"))
print(f"csv -> parquet ({csv_bytes / 2**20:.0f} MiB): granary {g:.2f} s, pyarrow {p:.2f} s, ratio {g / p:.2f}x; runs granary {read('granary_csv')} pyarrow {read('pyarrow_csv')}")
st = statistics.median(read("store_csv"))
print(f"then storing the rendition as a blob: {st:.2f} s (conversion and store {(g + st) / p:.2f}x pyarrow's conversion)")
PY
