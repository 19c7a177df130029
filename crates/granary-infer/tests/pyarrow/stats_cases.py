"""Writes parquet files with edge values and their statistics as numpy and pyarrow compute them.

    python3 stats_cases.py OUT_DIR

OUT_DIR gets `table.parquet` and `expected.json`: per column, `nan_count` (nulls, and NaN
in float columns, as the Hugging Face viewer counts them), `min`, `max`, `median` (over the
non-NaN values, infinities included: the midpoint `a + (b - a) / 2` of the two middle
values as doubles), `mean` (the correctly rounded mean of the
finite values, `math.fsum`, when there is no infinity), `std` (numpy, ddof 1) and the
histogram: integers in bins of whole width `ceil((max - min + 1) / 10)` (the Hugging Face
viewer's rule) counted exactly in Python; floats over the finite values, 10 equal bins
counted as `numpy.histogram` counts (half-open bins, the last closed). Non-finite numbers are written as rows show them: "NaN",
"Infinity", "-Infinity"; integers past 2^53 as strings of their digits.
"""
import bisect
import json
import math
import random
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out = sys.argv[1]
rnd = random.Random(11)
N = 500
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def show(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, int) and abs(v) > 2**53 - 1:
        return str(v)
    return v


columns = {
    # Integers spanning int64.
    "wide": [I64_MIN, I64_MAX, 0, None] + [rnd.randint(I64_MIN, I64_MAX) for _ in range(N - 4)],
    # Integers past 2^53, one apart.
    "big": [2**60 + rnd.randint(0, 1000) for _ in range(N)],
    "small": [rnd.randint(-3, 40) if rnd.random() > 0.1 else None for _ in range(N)],
    # Floats with NaN, infinities and the extremes of float64.
    "edges": [math.nan, math.inf, -math.inf, 1.7976931348623157e308, -1.7976931348623157e308, None]
    + [rnd.gauss(0, 1e300) for _ in range(N - 6)],
    "nan_inf": [math.nan, math.inf, 1.0, 2.0, math.nan, None, 3.0],
    "only_nan": [math.nan, None, math.nan],
    "pos_inf": [math.inf, 1.0, math.inf, math.inf],
    "tenths": [0.1] * 30 + [0.7] * 11,
    "normal": [rnd.gauss(5, 2) for _ in range(N)],
}
length = max(len(v) for v in columns.values())
arrays = {}
for name, values in columns.items():
    padded = values + [None] * (length - len(values))
    kind = pa.int64() if name in ("wide", "big", "small") else pa.float64()
    arrays[name] = pa.array(padded, kind)
table = pa.table(arrays)
pq.write_table(table, f"{out}/table.parquet", row_group_size=97)

expected = {}
for name in columns:
    values = table.column(name).to_pylist()
    present = [v for v in values if v is not None]
    is_int = pa.types.is_integer(table.column(name).type)
    nan_count = sum(1 for v in values if v is None or (isinstance(v, float) and math.isnan(v)))
    numbers = [v for v in present if not (isinstance(v, float) and math.isnan(v))]
    e = {"nan_count": nan_count}
    if not numbers:
        e.update(min=None, max=None, median=None, mean=None, std=None, histogram=None)
        expected[name] = e
        continue
    e["min"] = show(min(numbers))
    e["max"] = show(max(numbers))
    ordered = sorted(float(v) for v in numbers)
    a, b = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]
    mid = a if a == b else a + (b - a) / 2
    if math.isinf(mid) and math.isfinite(a) and math.isfinite(b):
        mid = a / 2 + b / 2
    e["median"] = show(mid)
    if is_int:
        if max(abs(v) for v in numbers) < 2**53:
            e["mean"] = math.fsum(numbers) / len(numbers)
        lo, hi = min(numbers), max(numbers)
        width = max(-(-(hi - lo + 1) // 10), 1)
        edges = list(range(lo, hi + 1, width)) + [hi]
        hist = [0] * (len(edges) - 1)
        for v in numbers:
            hist[min((v - lo) // width, len(hist) - 1)] += 1
        e["histogram"] = {"hist": hist, "bin_edges": [show(x) for x in edges]}
    else:
        finite = [v for v in numbers if math.isfinite(v)]
        infinite = [v for v in numbers if not math.isfinite(v)]
        if infinite:
            e["mean"] = show(float(np.mean(np.array(numbers))))
        else:
            e["mean"] = math.fsum(finite) / len(finite)
            if len(finite) > 1:
                e["std"] = float(np.std(np.array(finite), ddof=1))
        if finite:
            lo, hi = min(finite), max(finite)
            if lo == hi:
                edges = [lo, hi]
            else:
                # lo + i * w, at half scale so that no step overflows.
                w = hi / 10 - lo / 10
                edges = [(lo / 2 + i * (w / 2)) * 2 for i in range(10)] + [hi]
            if lo == hi:
                hist = [len(finite)]
            else:
                # numpy.histogram's bins (half-open, the last closed), by bisection: numpy
                # itself overflows on a range as wide as float64's.
                hist = [0] * 10
                for v in finite:
                    hist[min(bisect.bisect_right(edges, v) - 1, 9)] += 1
            e["histogram"] = {"hist": hist, "bin_edges": edges}
        else:
            e["histogram"] = None
    expected[name] = e

json.dump(expected, open(f"{out}/expected.json", "w"), indent=1)
