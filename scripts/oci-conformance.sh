#!/usr/bin/env bash
# The OCI distribution-spec conformance suite (prebuilt at ../shared/tools/oci-conformance,
# from opencontainers/distribution-spec commit 967efdc) against the real binary: a fresh
# embedded server, OCI_VERSION=1.1 with every group enabled, plus the optional APIs the
# suite can test (upload cancel, tag parameters, digest headers). Fails on any FAIL, Error
# or Skip. Sparse manifests stay disabled: granary refuses a manifest whose blobs the org
# does not hold (docs/API.md, "OCI conformance").
#
#   scripts/oci-conformance.sh [SERVE FLAGS…]   # e.g. --database-url … --blob-store …
#   OCI_CONFORMANCE=/path/to/conformance.test scripts/oci-conformance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${OCI_CONFORMANCE:-../shared/tools/oci-conformance/conformance.test}
if [ ! -x "$suite" ]; then
  echo "the conformance suite is not at $suite (set OCI_CONFORMANCE)" >&2
  exit 1
fi
suite=$(realpath "$suite")
cargo build -q -p granary
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/granary"
work=$(mktemp -d /tmp/granary-oci-conformance-XXXXXX)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" "$@" >"$work/server.log" 2>&1 &
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
if [ -f "$work/data/initial-admin-key" ]; then
  key=$(cat "$work/data/initial-admin-key")
else
  key=$("$bin" admin --data-dir "$work/data" "$@" key create admin --name conformance)
fi
cd "$work"
set +e
OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled \
  OCI_REPO1=default/conformance-one OCI_REPO2=default/conformance-two \
  OCI_USERNAME=__token__ OCI_PASSWORD="$key" OCI_VERSION=1.1 \
  OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_MANIFESTS_TAG_PARAM=true \
  OCI_API_BLOBS_DIGEST_HEADER=true OCI_API_MANIFESTS_DIGEST_HEADER=true \
  OCI_RESULTS_DIR="$work/results" "$suite" >"$work/out.txt" 2>&1
rc=$?
set -e
count() { sed -n "s/^ *$1\.*: *\([0-9]*\)$/\1/p" "$work/out.txt" | head -1; }
pass=$(count Pass); fail=$(count FAIL); skip=$(count Skip); err=$(count Error); total=$(count Total)
echo "OCI conformance: Pass ${pass:-?}, FAIL ${fail:-?}, Skip ${skip:-?}, Error ${err:-?} of ${total:-?}"
if [ "$rc" != 0 ] || [ "${fail:-1}" != 0 ] || [ "${err:-1}" != 0 ] || [ "${skip:-1}" != 0 ] || [ -z "$pass" ]; then
  grep -E ": (FAIL|Error|Skip)$" -A3 "$work/out.txt" | head -80 >&2 || true
  echo "OCI conformance failed (exit $rc); the server log follows" >&2
  tail -50 "$work/server.log" >&2
  exit 1
fi
