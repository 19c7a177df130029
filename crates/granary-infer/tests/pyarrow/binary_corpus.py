"""Writes a seeded corpus of files as pyarrow, pandas and polars write them, and what pyarrow
reads from each.

    python3 binary_corpus.py OUT_DIR [FILES]

Files are written by pyarrow (`pyarrow.parquet.write_table`, `pyarrow.ipc.new_file`,
`pyarrow.ipc.new_stream`, `pyarrow.feather.write_feather`), by pandas (`to_parquet`,
`to_feather`) and by polars (`write_parquet`, `write_ipc`), in turn. Columns are drawn from
integers of every width, floats (half, single, double), booleans, strings and binaries
(plain, large, fixed size, view), dates, times, timestamps of every unit naive and zoned
(UTC, named zones, offsets), durations, decimals (128 and 256 bits), dictionaries, lists
(plain, large, fixed size), structs, maps, nulls; nested a few levels deep, sometimes
hundreds of columns wide, with several row groups and codecs. pandas adds categoricals,
zoned datetimes and object columns; polars its own string and list layouts and ordered
categoricals (`Enum`). Every fifth
and sixth file is csv or JSON lines written by pandas (`to_csv`, `to_json(lines=True)`),
polars (`write_csv`, `write_ndjson`) or `pyarrow.csv.write_csv`.
OUT_DIR/expected.json maps each file name to pyarrow's answer: the schema of
`pyarrow.parquet.read_schema` / `pyarrow.ipc` / `pyarrow.csv.read_csv` /
`pyarrow.json.read_json` (`{"columns": [[name, type]], "rows": n}`, or `{"error": message}`
when pyarrow refuses a text file).
The same seed always writes the same files (pandas and polars are optional: without them
their turns are written by pyarrow).
"""
import datetime
import decimal
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.json as pjson
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

try:
    import pandas as pd
except ImportError:  # pragma: no cover
    pd = None
try:
    import polars as pl
except ImportError:  # pragma: no cover
    pl = None

ZONES = ["UTC", "America/New_York", "Europe/Paris", "+05:30", "Asia/Kolkata"]


def scalar_types(r):
    unit = r.choice(["s", "ms", "us", "ns"])
    return [
        (pa.int8(), lambda r: r.randint(-128, 127)),
        (pa.int16(), lambda r: r.randint(-2**15, 2**15 - 1)),
        (pa.int32(), lambda r: r.randint(-2**31, 2**31 - 1)),
        (pa.int64(), lambda r: r.randint(-2**63, 2**63 - 1)),
        (pa.uint8(), lambda r: r.randint(0, 255)),
        (pa.uint16(), lambda r: r.randint(0, 2**16 - 1)),
        (pa.uint32(), lambda r: r.randint(0, 2**32 - 1)),
        (pa.uint64(), lambda r: r.randint(0, 2**64 - 1)),
        (pa.float16(), lambda r: None),
        (pa.float32(), lambda r: r.uniform(-1e6, 1e6)),
        (pa.float64(), lambda r: r.choice([r.uniform(-1e300, 1e300), float("inf"), float("nan"), -0.0])),
        (pa.bool_(), lambda r: r.random() < 0.5),
        (pa.string(), lambda r: r.choice(["a", "déjà", "日本語", "x" * r.randint(0, 50)])),
        (pa.large_string(), lambda r: "long" * r.randint(0, 5)),
        (pa.binary(), lambda r: bytes(r.randint(0, 255) for _ in range(r.randint(0, 8)))),
        (pa.large_binary(), lambda r: b"\x00\xff" * r.randint(0, 3)),
        (pa.binary(4), lambda r: bytes(r.randint(0, 255) for _ in range(4))),
        (pa.date32(), lambda r: datetime.date(r.randint(1, 9999), r.randint(1, 12), r.randint(1, 28))),
        (pa.date64(), lambda r: datetime.date(r.randint(1970, 2100), 1, 1)),
        (pa.time32("s"), lambda r: datetime.time(r.randint(0, 23), r.randint(0, 59))),
        (pa.time32("ms"), lambda r: datetime.time(r.randint(0, 23), 0, 0, 1000)),
        (pa.time64("us"), lambda r: datetime.time(r.randint(0, 23), 0, 0, r.randint(0, 999999))),
        (pa.time64("ns"), lambda r: datetime.time(1, 2, 3)),
        (pa.timestamp(unit), lambda r: datetime.datetime(r.randint(1970, 2200), 1, 1, 12)),
        (pa.timestamp(unit, tz=r.choice(ZONES)), lambda r: datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)),
        (pa.duration(unit), lambda r: datetime.timedelta(seconds=r.randint(-10**6, 10**6))),
        (pa.decimal128(r.randint(1, 38), 0), lambda r: decimal.Decimal(r.randint(-9, 9))),
        (pa.decimal128(22, 2), lambda r: decimal.Decimal("12345678901234567890.12")),
        (pa.decimal256(50, 10), lambda r: decimal.Decimal("1.5")),
        (pa.null(), lambda r: None),
    ]


def nested(r, depth):
    """A (type, value maker) pair, nested up to `depth` levels."""
    if depth <= 0 or r.random() < 0.6:
        return r.choice(scalar_types(r))
    inner_t, inner_v = nested(r, depth - 1)
    kind = r.choice(["list", "large_list", "fixed", "struct", "map", "dict"])
    if kind == "list":
        return pa.list_(inner_t), lambda r: [inner_v(r) for _ in range(r.randint(0, 3))]
    if kind == "large_list":
        return pa.large_list(inner_t), lambda r: [inner_v(r) for _ in range(r.randint(0, 2))]
    if kind == "fixed":
        return pa.list_(inner_t, 2), lambda r: [inner_v(r), inner_v(r)]
    if kind == "struct":
        other_t, other_v = r.choice(scalar_types(r))
        t = pa.struct([("a", inner_t), ("b c", other_t)])
        return t, lambda r: {"a": inner_v(r), "b c": other_v(r)}
    if kind == "map":
        return pa.map_(pa.string(), inner_t), lambda r: [("k" + str(r.randint(0, 9)), inner_v(r))]
    index = r.choice([pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8()])
    return pa.dictionary(index, pa.string()), lambda r: r.choice(["red", "green", "blue"])


def pa_table(r):
    ncols = r.choice([1, 2, 3, 5, 8, 300])
    rows = r.choice([0, 1, 3, 50, 1000])
    fields, arrays = [], []
    for i in range(ncols):
        t, make = nested(r, r.choice([0, 1, 3]))
        nulls = r.choice([0, 0, 0.3, 1.0])
        values = [None if r.random() < nulls else make(r) for _ in range(rows)]
        if pa.types.is_dictionary(t):
            arr = pa.array(values, type=pa.string()).dictionary_encode()
            arr = arr.cast(t) if arr.type != t else arr
        elif t == pa.float16():
            arr = pa.array([None] * rows, type=pa.float16())
        else:
            arr = pa.array(values, type=t)
        fields.append(pa.field(r.choice(["c", "col", "名前", "a.b", "x y"]) + str(i), t))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_pyarrow(r, t, path, fmt):
    if fmt == "parquet":
        pq.write_table(t, path, row_group_size=r.choice([None, 1, 7, 100]),
                       compression=r.choice(["snappy", "zstd", "gzip", "none", "lz4", "brotli"]),
                       use_dictionary=r.random() < 0.5, version=r.choice(["2.6", "2.4", "1.0"]),
                       data_page_version=r.choice(["1.0", "2.0"]))
    elif fmt == "feather":
        feather.write_feather(t, path, compression=r.choice(["uncompressed", "lz4", "zstd"]))
    elif r.random() < 0.5:
        with ipc.new_file(path, t.schema) as w:
            for b in t.to_batches(max_chunksize=r.choice([1, 10, 1000])):
                w.write_batch(b)
    else:
        with pa.OSFile(path, "wb") as f, ipc.new_stream(f, t.schema) as w:
            w.write_table(t)


def pandas_frame(r):
    rows = r.choice([0, 1, 10, 500])
    cols = {}
    for i in range(r.randint(1, 6)):
        kind = r.choice(["int", "float", "str", "bool", "cat", "tz", "naive", "obj", "nullable", "date"])
        name = f"{kind}{i}"
        if kind == "int":
            cols[name] = pd.Series([r.randint(-5, 5) for _ in range(rows)], dtype="int64")
        elif kind == "float":
            cols[name] = pd.Series([r.random() for _ in range(rows)], dtype="float64")
        elif kind == "str":
            cols[name] = pd.Series([r.choice(["a", "b", None]) for _ in range(rows)], dtype="object")
        elif kind == "bool":
            cols[name] = pd.Series([r.random() < 0.5 for _ in range(rows)], dtype="bool")
        elif kind == "cat":
            cols[name] = pd.Series([r.choice(["x", "y"]) for _ in range(rows)], dtype="category")
        elif kind == "tz":
            cols[name] = pd.Series(pd.date_range("2020-01-01", periods=rows, freq="h", tz=r.choice(["America/New_York", "UTC", "Europe/Berlin"])))
        elif kind == "naive":
            cols[name] = pd.Series(pd.date_range("2020-01-01", periods=rows, freq="min"))
        elif kind == "obj":
            cols[name] = pd.Series([[1, 2]] * rows, dtype="object")
        elif kind == "nullable":
            cols[name] = pd.Series([r.choice([1, None]) for _ in range(rows)], dtype="Int32")
        else:
            cols[name] = pd.Series([datetime.date(2020, 1, 1 + r.randint(0, 27)) for _ in range(rows)], dtype="object")
    df = pd.DataFrame(cols)
    if r.random() < 0.3:
        df.index = pd.Index([f"r{i}" for i in range(rows)], name="key")
    return df


def polars_frame(r):
    rows = r.choice([0, 1, 10, 500])
    cols = {}
    for i in range(r.randint(1, 6)):
        kind = r.choice(["int", "float", "str", "bool", "list", "struct", "cat", "enum", "dt", "date", "u8", "dur"])
        name = f"{kind}{i}"
        if kind == "int":
            cols[name] = pl.Series(name, [r.randint(-5, 5) for _ in range(rows)], dtype=pl.Int64)
        elif kind == "float":
            cols[name] = pl.Series(name, [r.random() for _ in range(rows)], dtype=pl.Float32)
        elif kind == "str":
            cols[name] = pl.Series(name, [r.choice(["a", "bb", None]) for _ in range(rows)], dtype=pl.Utf8)
        elif kind == "bool":
            cols[name] = pl.Series(name, [r.random() < 0.5 for _ in range(rows)], dtype=pl.Boolean)
        elif kind == "list":
            cols[name] = pl.Series(name, [[r.randint(0, 3)] for _ in range(rows)], dtype=pl.List(pl.Int16))
        elif kind == "struct":
            cols[name] = pl.Series(name, [{"a": 1, "b": "x"} for _ in range(rows)])
        elif kind == "cat":
            cols[name] = pl.Series(name, [r.choice(["p", "q"]) for _ in range(rows)], dtype=pl.Categorical)
        elif kind == "enum":
            cols[name] = pl.Series(name, [r.choice(["lo", "hi"]) for _ in range(rows)], dtype=pl.Enum(["lo", "hi"]))
        elif kind == "dt":
            cols[name] = pl.Series(name, [datetime.datetime(2020, 1, 1)] * rows,
                                   dtype=pl.Datetime(r.choice(["ms", "us", "ns"]), r.choice([None, "UTC", "Asia/Tokyo"])))
        elif kind == "date":
            cols[name] = pl.Series(name, [datetime.date(2021, 5, 5)] * rows, dtype=pl.Date)
        elif kind == "u8":
            cols[name] = pl.Series(name, [r.randint(0, 255) for _ in range(rows)], dtype=pl.UInt8)
        else:
            cols[name] = pl.Series(name, [datetime.timedelta(seconds=5)] * rows, dtype=pl.Duration("us"))
    return pl.DataFrame(cols)


def write_text(r, writer, path, fmt):
    """A csv or JSON-lines file as pandas, polars or pyarrow (csv only) write it."""
    if writer == "pandas":
        df = pandas_frame(r)
        if fmt == "csv":
            df.to_csv(path, index=r.random() < 0.3)
        else:
            df.reset_index(drop=True).to_json(path, orient="records", lines=True,
                                               date_format="iso")
    elif writer == "polars":
        df = polars_frame(r)
        if fmt == "csv":
            flat = [c for c in df.columns if not isinstance(df[c].dtype, (pl.List, pl.Struct, pl.Duration))]
            df.select(flat).write_csv(path)
        else:
            df.write_ndjson(path)
    else:
        t = pa_table(r)
        flat = [f.name for f in t.schema
                if not pa.types.is_nested(f.type) and not pa.types.is_dictionary(f.type)
                and not pa.types.is_binary(f.type) and not pa.types.is_large_binary(f.type)
                and not pa.types.is_fixed_size_binary(f.type) and not pa.types.is_duration(f.type)
                and not pa.types.is_null(f.type)]
        pcsv.write_csv(t.select(flat), path)


def expected(path, fmt):
    """pyarrow's answer for a written file."""
    if fmt in ("csv", "jsonl"):
        try:
            t = pcsv.read_csv(path) if fmt == "csv" else pjson.read_json(path)
        except Exception as e:  # pyarrow refuses the file
            return {"error": str(e).splitlines()[0]}
        return {"columns": [[f.name, str(f.type)] for f in t.schema], "rows": t.num_rows}
    if fmt == "parquet":
        schema = pq.read_schema(path)
        rows = pq.ParquetFile(path).metadata.num_rows
    else:
        with open(path, "rb") as f:
            head = f.read(6)
        with pa.OSFile(path, "rb") as f:
            if head == b"ARROW1":
                reader = ipc.open_file(f)
                schema = reader.schema
                rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
            else:
                reader = ipc.open_stream(f)
                schema = reader.schema
                rows = sum(b.num_rows for b in reader)
    return {"columns": [[f.name, str(f.type)] for f in schema], "rows": rows}


def main():
    out_dir = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 240
    os.makedirs(out_dir, exist_ok=True)
    r = random.Random(20261202)
    answers = {}
    for n in range(files):
        fmt = ["parquet", "arrow", "feather", "parquet", "csv", "jsonl"][n % 6]
        writer = ["pyarrow", "pandas", "polars"][(n // 6) % 3]
        if fmt == "jsonl" and writer == "pyarrow":
            writer = "pandas"
        if writer == "pandas" and pd is None or writer == "polars" and pl is None:
            writer = "pyarrow"
        name = f"b{n:04d}-{writer}.{fmt}"
        path = os.path.join(out_dir, name)
        if fmt in ("csv", "jsonl"):
            write_text(r, writer, path, fmt)
        elif writer == "pandas":
            df = pandas_frame(r)
            if fmt == "parquet":
                df.to_parquet(path, engine="pyarrow", index=r.choice([None, True, False]))
            else:
                df.reset_index(drop=True).to_feather(path)
        elif writer == "polars":
            df = polars_frame(r)
            if fmt == "parquet":
                df.write_parquet(path, compression=r.choice(["zstd", "snappy", "uncompressed"]),
                                 row_group_size=r.choice([None, 3]))
            else:
                df.write_ipc(path, compression=r.choice(["uncompressed", "lz4", "zstd"]))
        else:
            # A few generated tables are ones pyarrow itself cannot write; draw another.
            for _ in range(10):
                try:
                    write_pyarrow(r, pa_table(r), path, fmt)
                    break
                except (pa.ArrowException, ValueError):
                    continue
        answers[name] = expected(path, fmt)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(answers, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
