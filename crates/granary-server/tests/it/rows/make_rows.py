"""Writes the rows corpus into argv[1]: one table written as parquet (small row groups and
pages, with and without an offset index), as two parquet parts, as csv, as JSON lines
and as arrow IPC, plus expected.json (the table, row by row) and expected-csv.json (pyarrow's reading of
the csv)."""
import json
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

out = sys.argv[1]
n = 25_000
ids = list(range(n))
table = pa.table(
    {
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([f"row {i:05d}" if i % 7 else None for i in ids], pa.string()),
        "score": pa.array([i / 4 if i % 11 else None for i in ids], pa.float64()),
        "flag": pa.array([i % 3 == 0 for i in ids], pa.bool_()),
    }
)
pq.write_table(table, f"{out}/all.parquet", row_group_size=3000, data_page_size=4096)
# With an offset index (arrow-rs writes one by default, pyarrow when asked): pages before
# an offset are skipped unread.
pq.write_table(table, f"{out}/indexed.parquet", row_group_size=3000, data_page_size=4096, write_page_index=True)
pq.write_table(table.slice(0, 10_007), f"{out}/part-0.parquet", row_group_size=1000)
pq.write_table(table.slice(10_007), f"{out}/part-1.parquet", row_group_size=1000)
pcsv.write_csv(table, f"{out}/all.csv")
with open(f"{out}/all.jsonl", "w") as f:
    for row in table.to_pylist():
        f.write(json.dumps(row) + "\n")
with pa.OSFile(f"{out}/all.arrow", "wb") as sink:
    with pa.ipc.new_file(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=1500):
            w.write_batch(batch)
with open(f"{out}/expected.json", "w") as f:
    json.dump(table.to_pylist(), f)
# As pyarrow reads the csv back (an empty field is "" in a string column).
with open(f"{out}/expected-csv.json", "w") as f:
    json.dump(pcsv.read_csv(f"{out}/all.csv").to_pylist(), f)
