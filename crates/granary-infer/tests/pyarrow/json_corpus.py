"""Writes a seeded corpus of JSON-lines files and what pyarrow reads from each.

    python3 json_corpus.py OUT_DIR [FILES]

Records draw keys from a small pool; values are nulls, booleans, integers (some beyond
int64), floats, strings (some ISO 8601 dates and date-times, with and without fraction or
zone), lists and nested objects, often with a key first seen late, a late float in an
integer column, or (in some files) a late value of another kind, which pyarrow refuses.
Lines vary: CRLF, blank lines, two records on one line, no final newline. Every fourth
file is named `.json` (a `.json` file may hold JSON lines). OUT_DIR/
expected.json maps each file name to pyarrow's answer from `pyarrow.json.read_json`:
`{"columns": [[name, type]], "rows": n}`, or `{"error": message}`.
"""
import io
import json
import random

import corpus

import pyarrow.json as pj

KEYS = ["id", "name", "score", "tags", "meta", "when", "flag", "n"]


def scalar(r, kind):
    if kind == "int":
        return r.choice([r.randint(-10**9, 10**9), r.randint(-2**63, 2**63 - 1), 0])
    if kind == "bigint":
        return r.choice([2**63, 2**64 + 5])
    if kind == "float":
        return r.choice([r.uniform(-1e3, 1e3), 1.0, 1e20, -0.5])
    if kind == "bool":
        return r.random() < 0.5
    if kind == "ts":
        return r.choice(["2020-01-01", "2021-06-30T12:00:00", "1999-12-31 23:59:59", "2020-01-01T12:00:00Z",
                         "2020-01-01T12:00:00+01:00", "2020-01-01T12", "0001-01-01"])
    if kind == "tsfrac":
        return "2020-01-01T12:00:00.5"
    return r.choice(["alpha", "déjà", "", "12:00:00", "2020-13-01", "x" * r.randint(1, 30)])


def value(r, kind, depth=0):
    if r.random() < 0.1:
        return None
    if kind == "list":
        inner = r.choice(["int", "float", "null"])
        return [value(r, inner, depth + 1) if inner != "null" else None for _ in range(r.randint(0, 3))]
    if kind == "obj":
        if depth > 1:
            return {}
        inner = {"x": "int", "y": "str", "z": "bool"}
        return {k: value(r, inner[k], depth + 1) for k in r.sample(["x", "y", "z"], r.randint(0, 3))}
    return scalar(r, kind)


KINDS = ["int", "float", "bool", "str", "ts", "list", "obj", "bigint", "tsfrac"]
WIDEN = {"int": ["float", "bigint"], "ts": ["str", "tsfrac"], "str": ["ts"], "list": ["list"], "obj": ["obj"]}


def make(r):
    keys = r.sample(KEYS, r.randint(1, 5))
    kinds = {k: r.choice(KINDS) for k in keys}
    rows = r.choice([0, 1, 5, 50, 1200, 2000])
    late_key = r.choice(KEYS) if r.random() < 0.4 else None
    late_row = r.randint(0, max(0, rows - 1))
    conflict = r.random() < 0.15
    eol = r.choice(["\n", "\n", "\r\n"])
    out = io.StringIO()
    for i in range(rows):
        rec = {}
        for k in keys:
            if r.random() < 0.1:
                continue
            kind = kinds[k]
            if i >= late_row and kind in WIDEN and r.random() < 0.3:
                kind = r.choice(WIDEN[kind])
            if conflict and i == late_row:
                kind = r.choice([x for x in ["int", "str", "bool", "list", "obj"] if x != kinds[k]])
            rec[k] = value(r, kind)
        if late_key and i >= late_row:
            rec.setdefault(late_key, value(r, r.choice(["int", "str"])))
        line = json.dumps(rec, ensure_ascii=r.random() < 0.5)
        out.write(line)
        if r.random() < 0.02 and i < rows - 1:
            out.write(" ")  # the next record on the same line
            continue
        if i < rows - 1 or r.random() < 0.9:
            out.write(eol)
        if r.random() < 0.01:
            out.write(eol)
    return out.getvalue().encode()


def main():
    corpus.write(lambda r: make(r) or b"\n", pj.read_json, lambda n: f"j{n:04d}.jsonl" if n % 4 else f"j{n:04d}.json", 20261202, 200)


if __name__ == "__main__":
    main()
