"""Writes a parquet table and what pyarrow finds in it for a list of filters and orders.

    python3 query_cases.py OUT_DIR

OUT_DIR gets `table.parquet` (row groups of 8 rows, so row-group pruning is exercised;
column `d` dictionary-encoded) and `expected.json`: a list of cases, each with `where`
(the condition in granary's syntax, or null), `orderby` (or null) and `rows`, the indexes of
the matching rows in the order pyarrow gives them. Filters are evaluated with pyarrow
compute's Kleene logic and IEEE comparisons; `IN` as an OR of `=` (pyarrow's `is_in` treats
NaN and nulls differently from SQL); orders by `sort_indices` (nulls at the end, its default).
"""
import datetime as dt
import json
import math
import random
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

out = sys.argv[1]
rnd = random.Random(7)
N = 64


def pick(values, nulls=0.1):
    return [None if rnd.random() < nulls else rnd.choice(values) for _ in range(N)]


ints = [0, 1, -1, 5, 2, 9007199254740992, 9007199254740993, 2**63 - 1, -(2**63), 123456789012345678]
floats = [0.0, -0.0, 1.5, -1.0, 2.0, math.nan, math.inf, -math.inf, 1e300, -2.5]
texts = ["", "a", "b", "B", "é", "ab", "zz", "x y", "日本", "a'b"]
day0 = dt.date(2020, 1, 1)
stamp0 = dt.datetime(2020, 1, 1, 0, 0, 0)
table = pa.table(
    {
        "i": pa.array(pick(ints), pa.int64()),
        "f": pa.array(pick(floats), pa.float64()),
        "s": pa.array(pick(texts), pa.string()),
        "d": pa.array(pick(["x", "y", "z", "w"]), pa.string()).dictionary_encode(),
        "b": pa.array(pick([True, False]), pa.bool_()),
        "day": pa.array(pick([day0 + dt.timedelta(days=k) for k in range(0, 40, 3)]), pa.date32()),
        "ts": pa.array(
            pick([stamp0 + dt.timedelta(hours=k * 7, seconds=k) for k in range(20)]), pa.timestamp("ms")
        ),
        "tz": pa.array(
            pick([stamp0.replace(tzinfo=dt.timezone.utc) + dt.timedelta(hours=k * 5) for k in range(12)]),
            pa.timestamp("us", tz="UTC"),
        ),
        "t": pa.array(pick([dt.time(h, m, s) for h, m, s in [(0, 0, 0), (6, 30, 15), (12, 0, 0), (23, 59, 59), (9, 5, 1)]]), pa.time32("s")),
    }
)
pq.write_table(table, f"{out}/table.parquet", row_group_size=8)

col = table.column
utc = dt.timezone.utc


def any_of(name, values):
    acc = pc.equal(col(name), values[0])
    for v in values[1:]:
        acc = pc.or_kleene(acc, pc.equal(col(name), v))
    return acc


filters = {
    "f = 0": pc.equal(col("f"), 0.0),
    "f = -0.0": pc.equal(col("f"), -0.0),
    "f != 1.5": pc.not_equal(col("f"), 1.5),
    "f > 0": pc.greater(col("f"), 0.0),
    "f <= -1": pc.less_equal(col("f"), -1.0),
    "f >= 'Infinity'": pc.greater_equal(col("f"), math.inf),
    "f < 'NaN'": pc.less(col("f"), math.nan),
    "f IN (0, 1.5, 2)": any_of("f", [0.0, 1.5, 2.0]),
    "f NOT IN (0, 1.5)": pc.invert(any_of("f", [0.0, 1.5])),
    "i > 9007199254740992": pc.greater(col("i"), 9007199254740992),
    "i = 9007199254740993": pc.equal(col("i"), 9007199254740993),
    "i IN (1, 9007199254740993, -9223372036854775808)": any_of("i", [1, 9007199254740993, -(2**63)]),
    "i NOT IN (0, 1, 2, 5)": pc.invert(any_of("i", [0, 1, 2, 5])),
    # An integer column meets a float as float64 (rounding past 2^53).
    "i = 2.0": pc.equal(col("i").cast(pa.float64(), safe=False), 2.0),
    "i < 1.5": pc.less(col("i").cast(pa.float64(), safe=False), 1.5),
    "s = 'é'": pc.equal(col("s"), "é"),
    "s > 'b'": pc.greater(col("s"), "b"),
    "s IN ('a', 'é', '', 'a''b')": any_of("s", ["a", "é", "", "a'b"]),
    "d = 'x'": pc.equal(col("d").cast(pa.string()), "x"),
    "d IN ('x', 'y')": any_of("d", ["x", "y"]) if False else pc.or_kleene(
        pc.equal(col("d").cast(pa.string()), "x"), pc.equal(col("d").cast(pa.string()), "y")
    ),
    "d > 'x'": pc.greater(col("d").cast(pa.string()), "x"),
    "b = true": pc.equal(col("b"), True),
    "b = false OR b IS NULL": pc.or_kleene(pc.equal(col("b"), False), pc.is_null(col("b"))),
    "day >= '2020-01-15'": pc.greater_equal(col("day"), dt.date(2020, 1, 15)),
    "day < '2020-01-10T12'": pc.less(col("day").cast(pa.timestamp("ms")), pa.scalar(dt.datetime(2020, 1, 10, 12), pa.timestamp("ms"))),
    "ts > '2020-01-02T10'": pc.greater(col("ts"), pa.scalar(dt.datetime(2020, 1, 2, 10), pa.timestamp("ms"))),
    "ts = '2020-01-03 18:00:03'": pc.equal(col("ts"), pa.scalar(dt.datetime(2020, 1, 3, 18, 0, 3), pa.timestamp("ms"))),
    "ts IN ('2020-01-01', '2020-01-01T07:00:01')": pc.or_kleene(
        pc.equal(col("ts"), pa.scalar(dt.datetime(2020, 1, 1), pa.timestamp("ms"))),
        pc.equal(col("ts"), pa.scalar(dt.datetime(2020, 1, 1, 7, 0, 1), pa.timestamp("ms"))),
    ),
    "tz > '2020-01-01T10:00:00+02:00'": pc.greater(col("tz"), pa.scalar(dt.datetime(2020, 1, 1, 8, tzinfo=utc), pa.timestamp("us", tz="UTC"))),
    "tz <= '2020-01-02'": pc.less_equal(col("tz"), pa.scalar(dt.datetime(2020, 1, 2, tzinfo=utc), pa.timestamp("us", tz="UTC"))),
    "t < '12:00'": pc.less(col("t"), pa.scalar(dt.time(12, 0), pa.time32("s"))),
    "t >= '06:30:15'": pc.greater_equal(col("t"), pa.scalar(dt.time(6, 30, 15), pa.time32("s"))),
    "(f > 0 OR i < 0) AND NOT s IS NULL": pc.and_kleene(
        pc.or_kleene(pc.greater(col("f"), 0.0), pc.less(col("i"), 0)), pc.invert(pc.is_null(col("s")))
    ),
    "NOT (f = 0 OR f IS NULL)": pc.invert(pc.or_kleene(pc.equal(col("f"), 0.0), pc.is_null(col("f")))),
}

cases = []
for where, mask in filters.items():
    rows = [k for k, keep in enumerate(mask.to_pylist()) if keep is True]
    cases.append({"where": where, "orderby": None, "rows": rows})

order_columns = ["i", "f", "s", "d", "b", "day", "ts", "tz", "t"]
for name in order_columns:
    for order in ["ascending", "descending"]:
        # pyarrow sorts a dictionary column by its values.
        by = table.select([name])
        if name == "d":
            by = pa.table({"d": col("d").cast(pa.string())})
        idx = pc.sort_indices(by, sort_keys=[(name, order)]).to_pylist()
        spelled = name if order == "ascending" else f"{name} DESC"
        cases.append({"where": None, "orderby": spelled, "rows": idx})

# A filter and an order together.
mask = pc.greater(col("f"), -1.0).to_pylist()
keep = [k for k, v in enumerate(mask) if v is True]
sub = pa.table({"s": col("s").take(keep)})
order = pc.sort_indices(sub, sort_keys=[("s", "descending")]).to_pylist()
cases.append({"where": "f > -1", "orderby": "s DESC", "rows": [keep[k] for k in order]})

json.dump(cases, open(f"{out}/expected.json", "w"), indent=1)
