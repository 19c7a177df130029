#!/usr/bin/env python3
"""Writes the committed seed inputs, fuzz/corpus/<target>/seed-*: small valid files that
start each target off in the formats it reads. Needs pyarrow (`pip install pyarrow`);
only for regenerating the seeds, not for fuzzing.

    python3 fuzz/make-seeds.py
"""

import datetime
import decimal
import hashlib
import io
import json
import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))


def corpus(target):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    return d


def write(d, name, data):
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


N = 8
flat = pa.table(
    {
        "id": pa.array(range(N), pa.int64()),
        "name": pa.array([f"row {i}" if i % 3 else None for i in range(N)]),
        "score": pa.array([i / 4 for i in range(N)], pa.float64()),
        "ok": pa.array([i % 2 == 0 for i in range(N)]),
        "kind": pa.array(["a", "b"] * (N // 2)).dictionary_encode(),
    }
)
nested = pa.table(
    {
        "id": pa.array(range(N), pa.int32()),
        "tags": pa.array([[f"t{j}" for j in range(i % 3)] for i in range(N)], pa.list_(pa.string())),
        "point": pa.array([{"x": i, "y": -i} for i in range(N)], pa.struct([("x", pa.int16()), ("y", pa.int64())])),
        "props": pa.array([[("k", i)] for i in range(N)], pa.map_(pa.string(), pa.int32())),
    }
)
typed = pa.table(
    {
        "at": pa.array([datetime.datetime(2024, 1, 1, i) for i in range(N)], pa.timestamp("ms")),
        "day": pa.array([datetime.date(2024, 1, i + 1) for i in range(N)], pa.date32()),
        "price": pa.array([decimal.Decimal(f"{i}.25") for i in range(N)], pa.decimal128(9, 2)),
        "blob": pa.array([bytes([i]) * i for i in range(N)], pa.binary()),
        "big": pa.array([2**40 + i for i in range(N)], pa.uint64()),
    }
)


def parquet(table, **kw):
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


d = corpus("parquet_footer")
plain = parquet(flat, compression="none")
write(d, "plain.parquet", plain)
write(d, "snappy-v2.parquet", parquet(flat, compression="snappy", data_page_version="2.0"))
write(d, "zstd-nested.parquet", parquet(nested, compression="zstd"))
write(d, "gzip-types.parquet", parquet(typed, compression="gzip"))
write(d, "lz4-row-groups.parquet", parquet(flat, compression="lz4", row_group_size=3, use_dictionary=False))
# The footer alone (what infer_parquet_metadata reads): the file's last 8 bytes say how long it is.
meta_len = int.from_bytes(plain[-8:-4], "little")
write(d, "footer", plain[-8 - meta_len : -8])

d = corpus("text_infer")  # first byte: 0 csv, 1 json, 2 jsonl, 3 arrow
rows = flat.drop_columns(["kind"]).to_pylist()
csv = io.BytesIO()
pacsv.write_csv(flat.drop_columns(["kind"]), csv)
write(d, "csv", b"\x00" + csv.getvalue())
write(d, "csv-quoted", b'\x00a,"b ""q""",c\n1,"x,\ny",2.5\n,,\n3,z,-1e3\n')
write(d, "json-array", b"\x01" + json.dumps(rows).encode())
write(d, "json-lines", b"\x01" + "\n".join(json.dumps(r) for r in rows).encode() + b"\n")
write(d, "jsonl", b"\x02" + "\n".join(json.dumps(r) for r in nested.drop_columns(["props"]).to_pylist()).encode())
for name, table, writer, opts in [
    ("arrow-file", flat, ipc.new_file, None),
    ("arrow-stream", nested, ipc.new_stream, None),
    ("arrow-zstd", typed, ipc.new_file, ipc.IpcWriteOptions(compression="zstd")),
    ("arrow-lz4", flat, ipc.new_stream, ipc.IpcWriteOptions(compression="lz4")),
]:
    sink = pa.BufferOutputStream()
    with writer(sink, table.schema, options=opts) as w:
        w.write_table(table)
    write(d, name, b"\x03" + sink.getvalue().to_pybytes())

d = corpus("manifest")
artifacts = {
    "data/train.parquet": "sha256:" + hashlib.sha256(b"train").hexdigest(),
    "data/test.csv": "sha256:" + hashlib.sha256(b"test").hexdigest(),
    "é/x.jsonl": "sha256:" + hashlib.sha256(b"x").hexdigest(),
}
config = {
    "artifacts": artifacts,
    "artifacts_hash": "sha256:" + hashlib.sha256(json.dumps(artifacts, sort_keys=True).encode()).hexdigest(),
    "format": "parquet",
    "data_schema": {"id": "int64", "text": "string"},
    "row_count": 1234,
    "splits": {"train": "data/train.parquet", "test": "data/test.csv"},
    "summary": "Questions and answers",
    "tags": ["qa"],
    "license": "mit",
    "pretty_name": "My dataset",
    "language": ["en"],
    "task_categories": ["question-answering"],
    "size_category": "1K<n<10K",
    "origin": {"source": "seed"},
}
config_bytes = json.dumps(config).encode()
write(d, "dataset.json", config_bytes)
oci = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.dreadnode.config.v1+json",
        "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
        "size": len(config_bytes),
    },
    "layers": [],
    "annotations": {
        "io.dreadnode.type": "dataset",
        "io.dreadnode.name": "default/my-dataset",
        "io.dreadnode.version": "1.0.0",
    },
}
write(d, "oci.json", json.dumps(oci).encode())
write(d, "version", b"10.2.30")
write(d, "path", b"data/train-0001.parquet")
