"""What the corpus generators share: writing the files and pyarrow's answer for each."""
import io
import json
import os
import random
import sys


def write(make, read, name_of, seed, default_files):
    """Writes `files` (argv[2], else `default_files`) outputs of `make(rng)` into argv[1]
    as `name_of(n)`, and expected.json: for each, `{"columns": [[name, type]], "rows": n}`
    from `read(file-like)`, or `{"error": first line}` when pyarrow refuses it."""
    out_dir = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else default_files
    r = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    expected = {}
    for n in range(files):
        name = name_of(n)
        data = make(r)
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        try:
            t = read(io.BytesIO(data))
            expected[name] = {"columns": [[f.name, str(f.type)] for f in t.schema], "rows": t.num_rows}
        except Exception as e:  # pyarrow refuses the file
            expected[name] = {"error": str(e).splitlines()[0]}
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
