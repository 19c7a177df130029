#!/usr/bin/env bash
# Property-based tests of the REST API against its own OpenAPI document: starts a fresh
# embedded server, publishes one small dataset so examples reach real data, and runs
# schemathesis with a bounded number of examples per operation. Fails on any 5xx, any
# status or body the document does not declare (errors must be the envelope), and any
# wrong content type. Needs `pip install schemathesis`.
#
#   scripts/schemathesis.sh [EXAMPLES]   # default 50 per operation
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-50}
cargo build -q -p granary
bin="${CARGO_TARGET_DIR:-target}/debug/granary"
work=$(mktemp -d /tmp/granary-schemathesis-XXXXXX)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 150); do
  curl -sf "$base/api/v1/health" >/dev/null && break
  sleep 0.2
done
if ! curl -sf "$base/api/v1/health" >/dev/null; then
  echo "the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
key=$(cat "$work/data/initial-admin-key")

export GRANARY_CONFIG_DIR="$work/cli"
mkdir -p "$work/ds"
printf 'id,text\n1,a\n2,b\n3,c\n' >"$work/ds/train.csv"
printf 'name: sample\nversion: 1.0.0\nsummary: A sample\ntags: [demo]\nlicense: mit\n' >"$work/ds/dataset.yaml"
"$bin" login --server "$base" --api-key "$key" >/dev/null
"$bin" dataset push "$work/ds" >/dev/null

schemathesis run "$base/api/v1/openapi.json" \
  -H "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$examples" \
  --continue-on-failure \
  --seed 1 \
  --warnings off
if grep -qE "panicked|internal error" "$work/server.log"; then
  echo "the server logged a panic or an internal error:" >&2
  grep -E "panicked|internal error" "$work/server.log" >&2
  exit 1
fi
