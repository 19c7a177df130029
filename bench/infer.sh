#!/usr/bin/env bash
# Schema and row count of a large csv and JSON-lines file, side by side: granary's server
# path (the file uploaded once, then `GET …/blobs/{digest}/schema?format=`, the inference a
# publish runs, on a freshly started release server so nothing is cached), granary's CLI
# (`granary dataset inspect`, the same inference plus hashing the file) and pyarrow
# reading the same file (`pyarrow.csv.read_csv` / `pyarrow.json.read_json`, which also
# yields schema and rows). Interleaved runs; prints each run's wall time and peak RSS
# (for the server path its peak anonymous memory), the medians and the ratios to pyarrow.
#   Usage: bench/infer.sh [SIZE_MIB] [RUNS]   (defaults 1024, 3; needs pyarrow)
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-3}
source "$(dirname "$0")/common.sh"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -c 'import pyarrow' 2>/dev/null || { echo "infer.sh: needs pyarrow (pip install pyarrow)" >&2; exit 2; }

# Mixed columns: integers, doubles, text, booleans, timestamps, with nulls.
python3 - "$work" "$size_mib" <<'PY'
import json, os, random, sys
d, mib = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
for kind in ("csv", "jsonl"):
    os.makedirs(f"{d}/{kind}", exist_ok=True)
    with open(f"{d}/{kind}/dataset.yaml", "w") as f:
        f.write(f"name: bench-{kind}\nversion: 1.0.0\n")
    with open(f"{d}/{kind}/data.{kind}", "w") as f:
        if kind == "csv":
            f.write("id,score,name,flag,at\n")
        i = 0
        while f.tell() < mib << 20:
            rows = []
            for _ in range(1000):
                score = "" if r.random() < 0.05 else f"{r.uniform(0, 100):.4f}"
                at = f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:00:00"
                name = f"user {r.randint(0, 10**6)}"
                flag = "true" if r.random() < 0.5 else "false"
                if kind == "csv":
                    rows.append(f"{i},{score},{name},{flag},{at}\n")
                else:
                    rows.append(json.dumps({"id": i, "score": float(score) if score else None, "name": name,
                                            "flag": flag == "true", "at": at}) + "\n")
                i += 1
            f.write("".join(rows))
PY

t() {  # wall seconds and peak RSS (MiB) of a command
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  awk '{ printf "%.2f %.0f", $1, $2 / 1024 }' "$work/time"
}
cat >"$work/read.py" <<'PY'
import sys, pyarrow.csv as pc, pyarrow.json as pj
t = (pc.read_csv if sys.argv[1] == "csv" else pj.read_json)(sys.argv[2])
print(t.schema, t.num_rows)
PY
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# The server path: a fresh server (nothing cached) answering the schema of a stored file.
declare -A digest
for kind in csv jsonl; do
  hex=$(sha256sum "$work/$kind/data.$kind" | cut -d' ' -f1)
  curl -sS -f -o /dev/null -X POST -H "Authorization: Bearer $key" -H "Content-Type: application/octet-stream" \
    -T "$work/$kind/data.$kind" "$url/api/v1/default/bench/blobs/uploads?digest=sha256:$hex"
  digest[$kind]="sha256:$hex"
done
serve() {  # wall seconds of the schema request and the server's peak anonymous RSS (MiB)
  # (sampled every 50 ms: local blobs are read through a memory map, whose page-cache
  # pages count in VmRSS/VmHWM but are the kernel's to drop, not the server's memory)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  : >"$work/out"; echo 0 >"$work/anon"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
  url=$(sed -n 's/^granary listening on //p' "$work/out")
  local secs sampler
  (peak=0; while kill -0 "$pid" 2>/dev/null; do
     a=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
     [ "${a:-0}" -gt "$peak" ] && peak=$a && echo "$peak" >"$work/anon"
     sleep 0.05; done) &
  sampler=$!
  secs=$(curl -sS -f -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $key" \
    "$url/api/v1/org/default/blobs/${digest[$1]}/schema?format=$1")
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  printf '%.2f %.0f\n' "$secs" "$(awk '{print $1 / 1024}' "$work/anon")"
}

echo "${size_mib} MiB per file, ${runs} interleaved runs (seconds, peak RSS MiB)"
for kind in csv jsonl; do
  : >"$work/s"; : >"$work/g"; : >"$work/p"; : >"$work/sm"; : >"$work/gm"; : >"$work/pm"
  for i in $(seq "$runs"); do
    serve "$kind" >"$work/served"  # not in a subshell: it replaces the server ($pid)
    read -r ss sm <"$work/served"
    read -r gs gm <<<"$(t "$bin" dataset inspect "$work/$kind" --json)"
    read -r ps pm <<<"$(t python3 "$work/read.py" "$kind" "$work/$kind/data.$kind")"
    echo "$ss" >>"$work/s"; echo "$gs" >>"$work/g"; echo "$ps" >>"$work/p"
    echo "$sm" >>"$work/sm"; echo "$gm" >>"$work/gm"; echo "$pm" >>"$work/pm"
    printf '%s run %d: server %s s (%s MiB), inspect %s s (%s MiB), pyarrow %s s (%s MiB)\n' \
      "$kind" "$i" "$ss" "$sm" "$gs" "$gm" "$ps" "$pm"
  done
  s=$(median <"$work/s") g=$(median <"$work/g") p=$(median <"$work/p")
  sm=$(median <"$work/sm") gm=$(median <"$work/gm") pm=$(median <"$work/pm")
  awk -v k="$kind" -v s="$s" -v g="$g" -v p="$p" -v sm="$sm" -v gm="$gm" -v pm="$pm" 'BEGIN {
    printf "median %s: server %.2f s, %d MiB (ratio %.2f); inspect %.2f s, %d MiB (ratio %.2f); pyarrow %.2f s, %d MiB\n",
      k, s, sm, s / p, g, gm, g / p, p, pm }'
done
