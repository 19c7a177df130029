"""ORAS (the `oras` Python SDK, token auth) against granary's /v2/, end to end.

Environment: URL (http://host:port), KEY (an owner's API key), GRANARY_PUSHED (the name of
a dataset pushed with `granary dataset push` as 1.0.0, with its files in PUSHED_DIR), WORK
(where the pushed files are written: WORK/src).
Prints one JSON line with what it saw; the Rust test asserts on it. Exits non-zero with a
message on the first check that fails.
"""

import hashlib
import json
import os
import sys
import tempfile
import urllib.request

import oras.client
import pyarrow as pa
import pyarrow.parquet as pq

URL = os.environ["URL"]
KEY = os.environ["KEY"]
HOST = URL.split("://", 1)[1]


def check(cond, msg):
    if not cond:
        print(f"FAILED: {msg}", file=sys.stderr)
        sys.exit(1)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def api(path):
    req = urllib.request.Request(URL + path, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def client():
    c = oras.client.OrasClient(hostname=HOST, insecure=True, auth_backend="token")
    c.auth.set_basic_auth("__token__", KEY)
    return c


work = os.environ.get("WORK") or tempfile.mkdtemp()
src = os.path.join(work, "src")
os.makedirs(src)
tables = {
    "train.parquet": pa.table({"id": pa.array(range(1000), pa.int64()), "text": [f"row {i}" for i in range(1000)],
                               "score": pa.array([i / 7 for i in range(1000)], pa.float64())}),
    "test.parquet": pa.table({"id": pa.array(range(250), pa.int64()), "text": [f"t {i}" for i in range(250)],
                              "score": pa.array([i / 3 for i in range(250)], pa.float64())}),
}
for name, t in tables.items():
    pq.write_table(t, os.path.join(src, name))

# 1. Two titled parquet files under a semver tag: a dataset version.
os.chdir(src)
c = client()
resp = c.push(
    target=f"{HOST}/default/weather:1.0.0",
    files=list(tables),
    manifest_annotations={
        "org.opencontainers.image.description": "Weather, pushed with ORAS",
        "org.opencontainers.image.licenses": "cc-by-4.0",
        "org.opencontainers.image.source": "https://example.org/weather",
    },
)
check(resp.status_code == 201, f"push answered {resp.status_code}: {resp.text}")
detail = api("/api/v1/org/default/datasets/weather")
rows = sum(t.num_rows for t in tables.values())
schema = [[f.name, str(f.type)] for f in tables["train.parquet"].schema]

# 2. oras pull gets identical bytes.
out = os.path.join(work, "pulled")
os.makedirs(out)
pulled = client().pull(target=f"{HOST}/default/weather:1.0.0", outdir=out)
names = sorted(os.path.basename(p) for p in pulled)
check(names == sorted(tables), f"pulled {names}")
for n in tables:
    check(sha(os.path.join(out, n)) == sha(os.path.join(src, n)), f"{n} differs after pull")

# 3. A generic artifact with an unknown config type round-trips and is no dataset.
gen = os.path.join(work, "gen")
os.makedirs(gen)
os.chdir(gen)
with open("model.bin", "wb") as f:
    f.write(os.urandom(100_000))
with open("config.json", "w") as f:
    f.write('{"acme": true}')
resp = client().push(
    target=f"{HOST}/default/acme-model:v1",
    files=["model.bin"],
    manifest_config="config.json:application/vnd.acme.config.v1+json",
)
check(resp.status_code == 201, f"generic push answered {resp.status_code}: {resp.text}")
gout = os.path.join(work, "gpulled")
os.makedirs(gout)
client().pull(target=f"{HOST}/default/acme-model:v1", outdir=gout)
check(sha(os.path.join(gout, "model.bin")) == sha(os.path.join(gen, "model.bin")), "generic artifact differs")
listing = api("/api/v1/org/default/datasets?limit=100")

# 4. oras pull of a dataset pushed with `granary dataset push`.
pushed = os.environ["GRANARY_PUSHED"]
pdir = os.environ["PUSHED_DIR"]
pout = os.path.join(work, "granary-pushed")
os.makedirs(pout)
got = client().pull(target=f"{HOST}/default/{pushed}:1.0.0", outdir=pout)
got_names = sorted(os.path.relpath(p, pout) for p in got)
for n in got_names:
    check(sha(os.path.join(pout, n)) == sha(os.path.join(pdir, n)), f"{n} of the granary push differs")

print(json.dumps({
    "detail": detail,
    "expected_rows": rows,
    "expected_schema": schema,
    "listing": listing,
    "granary_pushed_files": got_names,
}))
