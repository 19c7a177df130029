"""Writes one small file per Arrow type and container, and the exact values pyarrow reads
back from each, in the JSON representation granary's previews promise (docs/API.md,
"Preview values").

    python3 types_corpus.py OUT_DIR

For every type in TYPES, a one-column table is written as parquet (`pyarrow.parquet`), an
arrow IPC file (`pyarrow.ipc.new_file`) and feather (`pyarrow.feather`, lz4), where that
container can hold the type; a few csv and JSON-lines files add 64-bit integers past 2^53.
Each file is read back with pyarrow and OUT_DIR/expected.json maps its name to
`{"columns": [[name, type]], "rows": n, "values": [row objects]}`: the schema pyarrow reads
and every row converted from pyarrow's scalars by `to_json` below, an implementation of the
representation separate from granary's.
"""
import datetime
import decimal
import json
import os
import sys
import zoneinfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.json as pjson
import pyarrow.parquet as pq

SAFE = 2**53 - 1
PER_SECOND = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}
DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
EPOCH = datetime.datetime(1970, 1, 1)


def integer(v):
    return v if -SAFE <= v <= SAFE else str(v)


def number(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def frac(nanos, unit):
    d = DIGITS[unit]
    return "" if d == 0 else "." + str(nanos // 10 ** (9 - d)).zfill(d)


def split(v, unit):
    per = PER_SECOND[unit]
    secs, rest = divmod(v, per)
    return secs, rest * (10**9 // per)


def zone(tz):
    if tz[0] in "+-":
        sign = -1 if tz[0] == "-" else 1
        h, m = tz[1:].split(":")
        return datetime.timezone(sign * datetime.timedelta(hours=int(h), minutes=int(m)))
    if tz == "UTC":
        return datetime.timezone.utc
    return zoneinfo.ZoneInfo(tz)


def to_json(s):
    """One pyarrow scalar as granary previews it."""
    t = s.type
    if pa.types.is_dictionary(t) or pa.types.is_union(t) or pa.types.is_run_end_encoded(t):
        inner = s.value
        return None if inner is None else to_json(inner)
    if not s.is_valid:
        return None
    if pa.types.is_null(t):
        return None
    if pa.types.is_boolean(t):
        return s.as_py()
    if pa.types.is_integer(t):
        return integer(s.as_py()) if t.bit_width == 64 else s.as_py()
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        v = s.as_py()
        return number(float(str(np.float32(v)))) if v == v and abs(v) != float("inf") else number(v)
    if pa.types.is_floating(t):
        return number(s.as_py())
    if pa.types.is_decimal(t):
        return format(s.as_py(), "f")
    if pa.types.is_date(t):
        return s.as_py().isoformat()
    if pa.types.is_time(t):
        secs, nanos = split(s.cast(pa.int32() if pa.types.is_time32(t) else pa.int64()).as_py(), t.unit)
        return f"{secs // 3600:02}:{secs // 60 % 60:02}:{secs % 60:02}{frac(nanos, t.unit)}"
    if pa.types.is_timestamp(t):
        secs, nanos = split(s.cast(pa.int64()).as_py(), t.unit)
        wall = EPOCH + datetime.timedelta(seconds=secs)
        if t.tz is None:
            return wall.strftime("%Y-%m-%dT%H:%M:%S") + frac(nanos, t.unit)
        local = wall.replace(tzinfo=datetime.timezone.utc).astimezone(zone(t.tz))
        off = local.strftime("%z")
        return local.strftime("%Y-%m-%dT%H:%M:%S") + frac(nanos, t.unit) + off[:3] + ":" + off[3:]
    if pa.types.is_duration(t):
        v = s.cast(pa.int64()).as_py()
        secs, nanos = split(abs(v), t.unit)
        return ("-" if v < 0 else "") + f"PT{secs}{frac(nanos, t.unit)}S"
    if t == pa.month_day_nano_interval():
        v = s.as_py()
        return {"months": v.months, "days": v.days, "nanoseconds": integer(v.nanoseconds)}
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return s.as_py()
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return s.as_py().hex()
    if pa.types.is_map(t):
        return [{"key": to_json(e[0]), "value": to_json(e[1])} for e in s.values]
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        return [to_json(x) for x in s.values]
    if pa.types.is_struct(t):
        return {t.field(i).name: to_json(s[i]) for i in range(t.num_fields)}
    raise TypeError(f"no representation for {t}")


D = decimal.Decimal
US = datetime.timezone.utc


def ts(unit, tz):
    values = [0, 1_700_000_000 * PER_SECOND[unit] + PER_SECOND[unit] // 3, -1, None]
    # Around a DST change in the named zones (2021-03-14 07:00 UTC in New York).
    values.append(1_615_705_200 * PER_SECOND[unit])
    return pa.array(values, pa.timestamp(unit, tz))


TYPES = {
    "null": pa.array([None, None], pa.null()),
    "bool": pa.array([True, False, None]),
    "int8": pa.array([-128, 127, None], pa.int8()),
    "int16": pa.array([-32768, 32767, None], pa.int16()),
    "int32": pa.array([-(2**31), 2**31 - 1, None], pa.int32()),
    "int64": pa.array([-(2**63), SAFE, SAFE + 1, -SAFE - 1, 2**63 - 1, None], pa.int64()),
    "uint8": pa.array([0, 255, None], pa.uint8()),
    "uint16": pa.array([0, 65535, None], pa.uint16()),
    "uint32": pa.array([0, 2**32 - 1, None], pa.uint32()),
    "uint64": pa.array([0, SAFE + 1, 2**64 - 1, None], pa.uint64()),
    "float16": pa.array(np.array([0.1, -2.5, 65504, np.inf, np.nan], dtype=np.float16)),
    "float32": pa.array([0.1, 1e38, -3.4028235e38, 1.17549435e-38, float("nan"), float("-inf"), None], pa.float32()),
    "float64": pa.array([0.1, -0.0, 1.7976931348623157e308, 5e-324, float("nan"), float("inf"), None], pa.float64()),
    "decimal128_22_2": pa.array([D("12345678901234567890.12"), D("0.10"), D("-0.05"), D("0.00"), None], pa.decimal128(22, 2)),
    "decimal128_38_10": pa.array([D("9999999999999999999999999999.9999999999"), D("-1E-10"), None], pa.decimal128(38, 10)),
    "decimal128_5_0": pa.array([D("12345"), D("-1"), None], pa.decimal128(5, 0)),
    "decimal256_76_20": pa.array([D("1" * 56 + "." + "9" * 20), D("-0.00000000000000000001"), None], pa.decimal256(76, 20)),
    "decimal32_9_3": pa.array([D("123456.789"), D("-0.001"), None], pa.decimal32(9, 3)),
    "decimal64_18_4": pa.array([D("12345678901234.5678"), D("0.0001"), None], pa.decimal64(18, 4)),
    "date32": pa.array([datetime.date(1970, 1, 1), datetime.date(1, 1, 1), datetime.date(9999, 12, 31), None], pa.date32()),
    "date64": pa.array([datetime.date(1969, 12, 31), datetime.date(2024, 2, 29), None], pa.date64()),
    "time32_s": pa.array([0, 86399, None], pa.time32("s")),
    "time32_ms": pa.array([1, 86_399_999, None], pa.time32("ms")),
    "time64_us": pa.array([1, 86_399_999_999, None], pa.time64("us")),
    "time64_ns": pa.array([1, 86_399_999_999_999, None], pa.time64("ns")),
    "duration_s": pa.array([0, -1, 10**10, None], pa.duration("s")),
    "duration_ms": pa.array([1500, -1500, None], pa.duration("ms")),
    "duration_us": pa.array([1, -(2**63) + 1, None], pa.duration("us")),
    "duration_ns": pa.array([1, 2**63 - 1, None], pa.duration("ns")),
    "month_day_nano": pa.array([(1, 2, 3), (-1, 0, 2**62), None], pa.month_day_nano_interval()),
    "string": pa.array(["déjà vu", "", "日本", None], pa.string()),
    "large_string": pa.array(["a" * 30, None], pa.large_string()),
    "string_view": pa.array(["short", "a string longer than twelve bytes", None], pa.string_view()),
    "binary": pa.array([b"\x00\xff", b"", None], pa.binary()),
    "large_binary": pa.array([b"abc", None], pa.large_binary()),
    "binary_view": pa.array([b"\x01" * 20, b"x", None], pa.binary_view()),
    "fixed_size_binary": pa.array([b"abc", b"\x00\x01\x02", None], pa.binary(3)),
    "list_int64": pa.array([[1, None, 2**60], [], None], pa.list_(pa.int64())),
    "large_list_string": pa.array([["a", None], None, []], pa.large_list(pa.string())),
    "fixed_size_list_float32": pa.array([[0.1, 0.2], None, [None, 1.5]], pa.list_(pa.float32(), 2)),
    "list_view_int32": pa.array([[1, 2], [], None], pa.list_view(pa.int32())),
    "large_list_view_string": pa.array([["x"], None], pa.large_list_view(pa.string())),
    "struct": pa.array(
        [{"a": 1, "b": "x", "c": [D("1.50")]}, {"a": None, "b": None, "c": None}, None],
        pa.struct([("a", pa.int64()), ("b", pa.string()), ("c", pa.list_(pa.decimal128(5, 2)))]),
    ),
    "map_string_int64": pa.array([[("k", 1), ("k", 2**60)], [], None], pa.map_(pa.string(), pa.int64())),
    "map_int32_list": pa.array([[(1, ["a", None])], None], pa.map_(pa.int32(), pa.list_(pa.string()))),
    "dictionary_string": pa.array(["a", "b", None, "a"]).dictionary_encode(),
    "dictionary_int64": pa.DictionaryArray.from_arrays(
        pa.array([0, 1, None, 1], pa.int16()), pa.array([2**60, -1], pa.int64())
    ),
    "dictionary_timestamp": pa.DictionaryArray.from_arrays(
        pa.array([1, 0, None], pa.int8()), ts("us", "America/New_York").slice(0, 2)
    ),
    "sparse_union": pa.UnionArray.from_sparse(
        pa.array([0, 1, 0], pa.int8()),
        [pa.array([1, 2, None], pa.int64()), pa.array(["a", "b", "c"], pa.string())],
    ),
    "dense_union": pa.UnionArray.from_dense(
        pa.array([0, 1, 0], pa.int8()),
        pa.array([0, 0, 1], pa.int32()),
        [pa.array([D("1.10"), None], pa.decimal128(4, 2)), pa.array([b"\x00"], pa.binary())],
    ),
    "run_end_encoded": pa.RunEndEncodedArray.from_arrays(
        pa.array([2, 3, 5], pa.int32()), pa.array(["a", None, "b"], pa.string())
    ),
}
for unit in ["s", "ms", "us", "ns"]:
    TYPES[f"timestamp_{unit}"] = ts(unit, None)
for unit, tz in [("us", "America/New_York"), ("ns", "UTC"), ("ms", "+05:30"), ("s", "Asia/Kolkata"), ("us", "-03:00"), ("ns", "Europe/London")]:
    TYPES[f"timestamp_{unit}_{tz.replace('/', '_').replace(':', '').replace('+', 'p').replace('-', 'm')}"] = ts(unit, tz)


def read_back(path, container):
    if container == "parquet":
        return pq.read_table(path)
    if container == "feather":
        return feather.read_table(path)
    with pa.memory_map(path) as f:
        return ipc.open_file(f).read_all()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    expected = {}

    def record(name, table):
        rows = [
            {f.name: to_json(table.column(i)[r]) for i, f in enumerate(table.schema)}
            for r in range(min(table.num_rows, 20))
        ]
        expected[name] = {
            "columns": [[f.name, str(f.type)] for f in table.schema],
            "rows": table.num_rows,
            "values": rows,
        }

    for type_name, array in TYPES.items():
        table = pa.table({"v": array})
        for container in ["parquet", "arrow", "feather"]:
            name = f"{type_name}.{container}"
            path = os.path.join(out, name)
            try:
                if container == "parquet":
                    pq.write_table(table, path)
                elif container == "feather":
                    feather.write_feather(table, path, compression="lz4")
                else:
                    with ipc.new_file(path, table.schema) as w:
                        w.write_table(table)
                back = read_back(path, container)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                # The container cannot hold the type (parquet: unions, intervals, ...).
                if os.path.exists(path):
                    os.remove(path)
                continue
            record(name, back)

    big = [-(2**63), SAFE, SAFE + 1, 2**63 - 1]
    with open(os.path.join(out, "big.csv"), "w") as f:
        f.write("id,x\n" + "".join(f"{v},{i}.5\n" for i, v in enumerate(big)))
    record("big.csv", pcsv.read_csv(os.path.join(out, "big.csv")))
    with open(os.path.join(out, "big.jsonl"), "w") as f:
        f.write("".join(json.dumps({"id": v, "x": 0.1}) + "\n" for v in big))
    record("big.jsonl", pjson.read_json(os.path.join(out, "big.jsonl")))

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
