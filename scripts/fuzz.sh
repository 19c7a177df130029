#!/usr/bin/env bash
# Fuzzes granary's decoders and manifest rules: runs every cargo-fuzz target in fuzz/
# for SECONDS each (default 60) with libFuzzer's 2 GiB memory limit, and exits non-zero
# when any target finds something: a crash, a panic that granary does not turn into an
# error, an input that needs more than 2 GiB, or one that takes longer than 30 s.
# Findings are saved under fuzz/artifacts/<target>/; every target runs even after one
# has failed. Installs cargo-fuzz when it is missing.
#
#   scripts/fuzz.sh          # a minute per target (what CI runs)
#   scripts/fuzz.sh 3600     # an hour per target
#
# Runs on the stable toolchain: cargo-fuzz's nightly-only compiler flags (sanitizer and
# coverage instrumentation) are accepted with RUSTC_BOOTSTRAP=1.
# GRANARY_FUZZ_SANITIZER=none builds without AddressSanitizer (faster, finds less).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS per target, default 60]" >&2
  exit 2
fi
sanitizer=${GRANARY_FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"

failed=()
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1)
  if [ -f "fuzz/dicts/$t.dict" ]; then
    args+=(-dict="fuzz/dicts/$t.dict")
  fi
  log="fuzz/artifacts/$t/run.log"
  echo "== fuzz $t for ${secs}s (log: $log)"
  if cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$t" -- "${args[@]}" >"$log" 2>&1; then
    grep -E '^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)|^note: ' "$log" || true
  else
    failed+=("$t")
    echo "!! $t found something:"
    tail -n 60 "$log"
  fi
done

total=$(echo $targets | wc -w)
echo "fuzz: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "findings of ${failed[*]} are saved under fuzz/artifacts/" >&2
  exit 1
fi
