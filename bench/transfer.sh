#!/usr/bin/env bash
# Moving bytes, side by side on loopback: granary (release, SQLite + local disk), CNCF
# distribution (Debian's `docker-registry`, filesystem storage) and nginx (static file).
# One random blob; downloads of all three and uploads (monolithic, with digest) of the two
# registries over the standard `/v2/` routes (granary's `/api/v1` routes are the same code),
# interleaved, curl as the client; and `openssl dgst -sha256` of the same file,
# the hash limit an upload with a digest cannot beat. Prints every run, the medians and ratios.
#   Usage: bench/transfer.sh [SIZE_MIB] [RUNS]   (defaults 1024, 5)
#   Needs: apt-get install docker-registry nginx-light
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-5}
command -v docker-registry >/dev/null && command -v nginx >/dev/null \
  || { echo "transfer.sh: needs docker-registry and nginx (apt-get install docker-registry nginx-light)" >&2; exit 2; }
source "$(dirname "$0")/common.sh"
reg_pid="" nginx_pid=""
trap 'kill "$pid" $reg_pid $nginx_pid 2>/dev/null || true; rm -rf "$work"' EXIT

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/blob"
hex=$(sha256sum "$work/blob" | cut -d' ' -f1)
digest="sha256:$hex"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port)
mkdir -p "$work/reg"
cat >"$work/reg.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/reg}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$reg_port}
YML
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
reg_pid=$!
nginx_port=$(free_port)
mkdir -p "$work/www"
ln "$work/blob" "$work/www/blob"
cat >"$work/nginx.conf" <<CONF
daemon off; worker_processes 1; user root; pid $work/nginx.pid; error_log $work/nginx.err;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:$nginx_port; root $work/www; } }
CONF
nginx -c "$work/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.1; done

t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
auth=(-H "Authorization: Bearer $key")
g_up() { curl -sSf -o /dev/null -X POST "${auth[@]}" -T "$work/blob" "$url/v2/default/bench/blobs/uploads?digest=$digest"; }
g_down() { curl -sSf -o /dev/null "${auth[@]}" "$url/v2/default/bench/blobs/$digest"; }
r_up() {
  local loc
  loc=$(curl -sSf -D - -o /dev/null -X POST "http://127.0.0.1:$reg_port/v2/bench/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$loc" in http*) ;; *) loc="http://127.0.0.1:$reg_port$loc" ;; esac
  curl -sSf -o /dev/null -X PUT -H "Content-Type: application/octet-stream" -T "$work/blob" "$loc&digest=$digest"
}
r_down() { curl -sSf -o /dev/null "http://127.0.0.1:$reg_port/v2/bench/blobs/$digest"; }
n_down() { curl -sSf -o /dev/null "http://127.0.0.1:$nginx_port/blob"; }
hash_only() { openssl dgst -sha256 "$work/blob" >/dev/null; }
g_rm() { rm -f "$work/data/blobs/blobs/default/sha256/${hex:0:2}/$hex"; }
r_rm() { rm -rf "$work/reg/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex" "$work/reg/docker/registry/v2/repositories"; }

for f in gu gd ru rd nd h; do : >"$work/$f"; done
echo "blob ${size_mib} MiB, ${runs} interleaved runs"
for i in $(seq "$runs"); do
  g_rm; a=$(t g_up); r_rm; b=$(t r_up)
  c=$(t g_down); d=$(t r_down); e=$(t n_down); h=$(t hash_only)
  echo "$a" >>"$work/gu"; echo "$b" >>"$work/ru"; echo "$c" >>"$work/gd"; echo "$d" >>"$work/rd"; echo "$e" >>"$work/nd"; echo "$h" >>"$work/h"
  printf 'run %d: upload granary %s s, distribution %s s | download granary %s s, distribution %s s, nginx %s s | openssl dgst %s s\n' "$i" "$a" "$b" "$c" "$d" "$e" "$h"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
gu=$(median "$work/gu") ru=$(median "$work/ru") gd=$(median "$work/gd") rd=$(median "$work/rd") nd=$(median "$work/nd") h=$(median "$work/h")
awk -v gu="$gu" -v ru="$ru" -v gd="$gd" -v rd="$rd" -v nd="$nd" -v h="$h" 'BEGIN {
  printf "median upload:   granary %.2f s, distribution %.2f s, openssl dgst %.2f s (granary/distribution %.2f, granary/openssl %.2f)\n", gu, ru, h, gu / ru, gu / h
  printf "median download: granary %.2f s, distribution %.2f s, nginx %.2f s (granary/distribution %.2f, granary/nginx %.2f)\n", gd, rd, nd, gd / rd, gd / nd }'
