"""Checks parquet renditions against pyarrow's reading of their csv files.

    python3 same_table.py PAIRS_TSV

Each line of PAIRS_TSV is `CSV<TAB>PARQUET`. The parquet file must read back as the table
pyarrow makes of the csv with `pyarrow.csv.read_csv` (default options) and
`pyarrow.parquet.write_table`: the same column names and types (parquet holds seconds as
milliseconds) and equal values (nulls where pyarrow has nulls; NaN equal to NaN). Prints
each difference and exits 1 if there is one.
"""
import io
import sys

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

failures = 0
for line in open(sys.argv[1]).read().splitlines():
    csv, parquet = line.split("\t")
    buf = io.BytesIO()
    pq.write_table(pcsv.read_csv(csv), buf)
    want = pq.read_table(io.BytesIO(buf.getvalue()))
    got = pq.read_table(parquet)
    if got.schema.names != want.schema.names:
        print(f"{parquet}: columns {got.schema.names} vs pyarrow {want.schema.names}")
        failures += 1
        continue
    retyped = [f"{n}: {a} vs pyarrow {b}" for n, a, b in zip(want.schema.names, got.schema.types, want.schema.types) if a != b]
    if retyped:
        print(f"{parquet}: " + "; ".join(retyped))
        failures += 1
        continue
    for name in want.schema.names:
        a, b = got.column(name).to_pylist(), want.column(name).to_pylist()
        same = len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))
        if not same:
            bad = next((i for i, (x, y) in enumerate(zip(a, b)) if not (x == y or (x != x and y != y))), min(len(a), len(b)))
            print(f"{parquet}: column {name!r} row {bad}: {a[bad] if bad < len(a) else None!r} vs pyarrow {b[bad] if bad < len(b) else None!r}")
            failures += 1
            break
sys.exit(1 if failures else 0)
