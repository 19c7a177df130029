#!/usr/bin/env bash
# Schema and row count of a large csv and JSON-lines file, side by side: granary's
# inference (`granary dataset inspect`, the same crate and code path the server runs at
# publish, plus hashing the file) against pyarrow reading the same file
# (`pyarrow.csv.read_csv` / `pyarrow.json.read_json`, which also yields schema and rows).
# Interleaved runs; prints each run's wall time and peak RSS, the medians and the ratios.
#   Usage: bench/infer.sh [SIZE_MIB] [RUNS]   (defaults 1024, 3; needs pyarrow)
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -p granary --manifest-path "$root/Cargo.toml" >/dev/null
bin="$root/target/release/granary"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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

echo "${size_mib} MiB per file, ${runs} interleaved runs (seconds, peak RSS MiB)"
for kind in csv jsonl; do
  : >"$work/g"; : >"$work/p"; : >"$work/gm"; : >"$work/pm"
  for i in $(seq "$runs"); do
    read -r gs gm <<<"$(t "$bin" dataset inspect "$work/$kind" --json)"
    read -r ps pm <<<"$(t python3 "$work/read.py" "$kind" "$work/$kind/data.$kind")"
    echo "$gs" >>"$work/g"; echo "$ps" >>"$work/p"; echo "$gm" >>"$work/gm"; echo "$pm" >>"$work/pm"
    printf '%s run %d: granary %s s (%s MiB), pyarrow %s s (%s MiB)\n' "$kind" "$i" "$gs" "$gm" "$ps" "$pm"
  done
  g=$(median <"$work/g") p=$(median <"$work/p") gm=$(median <"$work/gm") pm=$(median <"$work/pm")
  awk -v k="$kind" -v g="$g" -v p="$p" -v gm="$gm" -v pm="$pm" 'BEGIN {
    printf "median %s: granary %.2f s, %d MiB; pyarrow %.2f s, %d MiB (time ratio %.2f)\n", k, g, gm, p, pm, g / p }'
done
