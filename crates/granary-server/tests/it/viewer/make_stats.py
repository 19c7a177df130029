"""Writes argv[1]/data.csv and data.jsonl (one table: ints with nulls, doubles, strings,
booleans, dates), and expected.json: the csv as pyarrow reads it, and every statistic the
viewer reports, computed here with pyarrow.compute and numpy (histograms over the bin
edges the viewer documents)."""
import json
import math
import random
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

out = sys.argv[1]
rnd = random.Random(7)
n = 5001
rows = []
for i in range(n):
    rows.append(
        {
            "n": None if i % 13 == 0 else rnd.randint(-500, 2000),
            "x": rnd.gauss(10.0, 3.0),
            "word": rnd.choice(["alpha", "beta", "gamma", "delta", "epsilon"] + [f"w{j}" for j in range(40)]),
            "flag": None if i % 17 == 0 else (i % 3 == 0),
            "day": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        }
    )
with open(f"{out}/data.csv", "w") as f:
    f.write("n,x,word,flag,day\n")
    for r in rows:
        f.write(
            ",".join(
                [
                    "" if r["n"] is None else str(r["n"]),
                    repr(r["x"]),
                    r["word"],
                    "" if r["flag"] is None else ("true" if r["flag"] else "false"),
                    r["day"],
                ]
            )
            + "\n"
        )
table = pcsv.read_csv(f"{out}/data.csv")


def edges(lo, hi, integral):
    if integral:
        span = hi - lo + 1
        width = max(1, math.ceil(span / 10))
        bins = math.ceil(span / width)
        return [lo + i * width for i in range(bins)] + [hi]
    if lo == hi:
        return [lo, hi]
    w = (hi - lo) / 10
    return [lo + i * w for i in range(10)] + [hi]


def hist(values, e):
    counts, _ = np.histogram(np.array(values, dtype=float), bins=np.array(e, dtype=float))
    return [int(c) for c in counts]


expected = {"rows": table.to_pylist(), "schema": [[f.name, str(f.type)] for f in table.schema], "columns": {}}
for name in ["n", "x"]:
    col = table[name]
    valid = pc.drop_null(col).to_pylist()
    integral = pa.types.is_integer(col.type)
    lo, hi = min(valid), max(valid)
    e = edges(lo, hi, integral)
    expected["columns"][name] = {
        "nan_count": col.null_count,
        "min": lo,
        "max": hi,
        "mean": pc.mean(col).as_py(),
        "median": pc.quantile(col, q=0.5, interpolation="linear")[0].as_py(),
        "std": pc.stddev(col, ddof=1).as_py(),
        "histogram": {"hist": hist(valid, e), "bin_edges": e},
    }
words = table["word"]
counts = pc.value_counts(words).to_pylist()
counts.sort(key=lambda d: (-d["counts"], d["values"]))
lengths = [len(w) for w in words.to_pylist()]
e = edges(min(lengths), max(lengths), True)
expected["columns"]["word"] = {
    "nan_count": 0,
    "n_unique": len(counts),
    "frequencies": {d["values"]: d["counts"] for d in counts[:10]},
    "length_histogram": {"hist": hist(lengths, e), "bin_edges": e},
}
flags = table["flag"]
expected["columns"]["flag"] = {
    "nan_count": flags.null_count,
    "frequencies": {"true": pc.sum(flags).as_py(), "false": len(flags) - flags.null_count - pc.sum(flags).as_py()},
}
days = table["day"]
expected["columns"]["day"] = {
    "nan_count": 0,
    "min": str(pc.min(days).as_py()),
    "max": str(pc.max(days).as_py()),
}
with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f, default=str)

# Filters and searches, answered by pyarrow.compute: the matching row indexes, in order.
idx = pa.array(range(table.num_rows))
n, x, word, flag = table["n"], table["x"], table["word"], table["flag"]


def indexes(mask):
    return pc.filter(idx, pc.fill_null(mask, False)).to_pylist()


queries = {
    "n > 100 AND flag = true": indexes(pc.and_kleene(pc.greater(n, 100), pc.equal(flag, True))),
    "word IN ('alpha', 'beta') OR n IS NULL": indexes(pc.or_kleene(pc.is_in(word, pa.array(["alpha", "beta"])), pc.is_null(n))),
    "NOT (x < 10) AND NOT flag = false": indexes(pc.and_kleene(pc.invert(pc.less(x, 10)), pc.invert(pc.equal(flag, False)))),
    "\"day\" >= '2024-06-01' AND n <= -400": indexes(pc.and_kleene(pc.greater_equal(table["day"], pa.scalar("2024-06-01").cast(pa.date32())), pc.less_equal(n, -400))),
}
ordered = pc.filter(table.append_column("i", idx), pc.fill_null(pc.greater_equal(n, 0), False)).sort_by([("x", "descending")])
expected["filters"] = queries
expected["ordered"] = ordered["i"].to_pylist()
expected["search_alpha"] = indexes(pc.match_substring(word, "alpha", ignore_case=True))
with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f, default=str)
