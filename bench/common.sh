# Shared by the bench scripts: builds the release binary and starts a server on a free
# loopback port over a fresh data directory. Sets bin, work, pid, url and key; the caller's
# EXIT trap should kill "$pid" and remove "$work".
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release -p granary --manifest-path "$root/Cargo.toml" >/dev/null
bin="$root/target/release/granary"
work=$(mktemp -d)
# shellcheck disable=SC2086  # SERVE_FLAGS: extra flags, word-split on purpose
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" ${SERVE_FLAGS:-} >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^granary listening on //p' "$work/out")
key=$(cat "$work/data/initial-admin-key")
