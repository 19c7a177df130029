"""Writes a seeded corpus of csv files and what pyarrow reads from each.

    python3 csv_corpus.py OUT_DIR [FILES]

Each file mixes columns drawn from value generators (integers, hex, padded numbers, floats
with exponents and infinities, booleans, dates, times, naive and zoned timestamps with and
without fractions, null tokens, text, invalid UTF-8, long values), often with a value of
another kind late in the file, and varies the line endings, a byte order mark, blank lines,
quoting and the final newline. OUT_DIR/expected.json maps each file name to pyarrow's
answer from `pyarrow.csv.read_csv` with default options: `{"columns": [[name, type]],
"rows": n}`, or `{"error": message}` when pyarrow refuses the file. The same seed always
writes the same files.
"""
import io
import random

import corpus

import pyarrow.csv as pc

NULLS = ["", "NA", "N/A", "null", "NULL", "NaN", "nan", "#N/A", "n/a", "-nan", "#NA", "1.#IND"]


def gen_int(r):
    return str(r.randint(-10**12, 10**12))


def gen_small(r):
    return str(r.randint(0, 1))


def gen_hex(r):
    return r.choice(["0x", "0X"]) + format(r.randint(0, 2**40), r.choice(["x", "X"]))


def gen_padded(r):
    return r.choice([" ", "\t", ""]) + str(r.randint(-999, 999)) + r.choice([" ", ""])


def gen_float(r):
    return r.choice([
        f"{r.uniform(-1e6, 1e6):.3f}", f"{r.uniform(0, 1):.6e}", f"{r.randint(0, 99)}.",
        f".{r.randint(0, 99)}", r.choice(["inf", "-inf", "Infinity", "NAN", "+1.5", "1E5"]),
    ])


def gen_bool(r):
    return r.choice(["true", "false", "True", "False", "TRUE", "FALSE"])


def gen_date(r):
    return f"{r.randint(1, 9999):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"


def gen_time(r):
    return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}" + (f":{r.randint(0, 59):02d}" if r.random() < 0.7 else "")


def _clock(r):
    return r.choice([
        f"{r.randint(0, 23):02d}",
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
    ])


def gen_ts(r):
    return gen_date(r) + r.choice(["T", " "]) + _clock(r)


def gen_ts_frac(r):
    return (gen_date(r) + r.choice(["T", " "]) + f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}."
            + str(r.randint(0, 10**r.randint(1, 9) - 1)).rjust(r.randint(1, 9), "0")[:9])


def gen_tsz(r):
    zone = r.choice(["Z", "+01:00", "-05:30", "+0200", "-03", "+23:59"])
    frac = f".{r.randint(0, 999999):06d}" if r.random() < 0.3 else ""
    return gen_date(r) + "T" + f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}" + frac + zone


def gen_text(r):
    return r.choice(["alpha", "beta gamma", "déjà vu", "日本", "x" * r.randint(1, 40), "None", "-", "1.2.3", "12:60"])


def gen_long(r):
    return "y" * r.randint(500, 3000)


GENERATORS = [gen_int, gen_small, gen_hex, gen_padded, gen_float, gen_bool, gen_date, gen_time,
              gen_ts, gen_ts_frac, gen_tsz, gen_text, gen_long]
ODD = [b"\xff\xfe", b"caf\xe9", b"2020-13-01", b"2021-02-29", b"24:00", b"9223372036854775808",
       b"-9223372036854775809", b"0x10000000000000000", b"+7", b"1e", b"  ", b"tRuE"]


def quote(v, r):
    if isinstance(v, bytes):
        return v
    if "," in v or '"' in v or "\n" in v or r.random() < 0.05:
        return ('"' + v.replace('"', '""') + '"').encode()
    return v.encode()


def make(r):
    ncols = r.randint(1, 5)
    cols = [r.choice(GENERATORS) for _ in range(ncols)]
    rows = r.choice([0, 1, 2, 10, 200, 1500, 3000])
    late = {}
    for c in range(ncols):
        if rows and r.random() < 0.4:
            late[c] = (r.randint(max(0, rows - 500), rows - 1),
                       r.choice(GENERATORS + [lambda r: r.choice(ODD)]))
    null_rate = r.choice([0, 0, 0.1, 0.5, 1.0])
    names = [r.choice(["id", "x", "value", "名前", "a b", ""]) + str(i) for i in range(ncols)]
    eol = r.choice([b"\n", b"\n", b"\r\n"])
    out = io.BytesIO()
    if r.random() < 0.1:
        out.write(b"\xef\xbb\xbf")
    out.write(b",".join(quote(n, r) for n in names) + eol)
    for i in range(rows):
        vals = []
        for c, g in enumerate(cols):
            if c in late and late[c][0] == i:
                v = late[c][1](r)
            elif r.random() < null_rate:
                v = r.choice(NULLS)
            else:
                v = g(r)
            vals.append(quote(v, r))
        out.write(b",".join(vals))
        if i < rows - 1 or r.random() < 0.9:
            out.write(eol)
        if r.random() < 0.01:
            out.write(eol)  # a blank line
    return out.getvalue()


def main():
    corpus.write(make, pc.read_csv, lambda n: f"c{n:04d}.csv", 20261201, 240)


if __name__ == "__main__":
    main()
