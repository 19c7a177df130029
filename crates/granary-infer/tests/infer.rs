use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use granary_core::DataFormat;
use granary_infer::{infer_file, infer_reader, InferError, Inferred};
use std::sync::Arc;

fn cols(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn batch(n: i64) -> RecordBatch {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
    let names: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("row {i}"))));
    let scores: ArrayRef = Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 / 2.0)));
    RecordBatch::try_from_iter([("id", ids), ("name", names), ("score", scores)]).unwrap()
}

#[test]
fn parquet_footer_gives_schema_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let file = std::fs::File::create(&path).unwrap();
    let b = batch(1234);
    let mut w = parquet::arrow::ArrowWriter::try_new(file, b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.write(&batch(66)).unwrap();
    w.close().unwrap();
    let got = infer_file(&path, DataFormat::Parquet).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("id", "int64"), ("name", "string"), ("score", "double")]),
            rows: 1300
        }
    );
    // the same through a stream
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(infer_reader(DataFormat::Parquet, &bytes[..]).unwrap().rows, 1300);
}

#[test]
fn parquet_garbage_is_an_error() {
    let err = infer_reader(DataFormat::Parquet, &b"definitely not parquet at all"[..]).unwrap_err();
    assert!(matches!(err, InferError::Parquet(_)), "{err}");
}

#[test]
fn csv_counts_quoted_newlines_once() {
    let data = "id,text,score\n1,\"two\nlines\",0.5\n2,plain,1.5\n3,\"a,b\",2\n";
    let got = infer_reader(DataFormat::Csv, data.as_bytes()).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("id", "int64"), ("text", "string"), ("score", "double")]),
            rows: 3
        }
    );
}

#[test]
fn csv_larger_than_the_inference_prefix() {
    let mut data = String::from("a,b\n");
    for i in 0..300_000 {
        data.push_str(&format!("{i},value-{i}\n"));
    }
    assert!(data.len() > 4 << 20);
    let got = infer_reader(DataFormat::Csv, data.as_bytes()).unwrap();
    assert_eq!(got.rows, 300_000);
    assert_eq!(got.columns, cols(&[("a", "int64"), ("b", "string")]));
}

#[test]
fn csv_ragged_rows_are_an_error() {
    let err = infer_reader(DataFormat::Csv, "a,b\n1,2\n3\n".as_bytes()).unwrap_err();
    assert!(matches!(err, InferError::Csv(_)), "{err}");
    assert!(matches!(
        infer_reader(DataFormat::Csv, "".as_bytes()),
        Err(InferError::Csv(_))
    ));
}

#[test]
fn jsonl_and_json_lines_and_arrays() {
    let lines = "{\"q\": \"hi\", \"n\": 1}\n\n{\"q\": \"yo\", \"n\": 2, \"tags\": [\"a\"]}\n{\"q\": \"x\", \"n\": 3}";
    let got = infer_reader(DataFormat::Jsonl, lines.as_bytes()).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("q", "string"), ("n", "int64"), ("tags", "list<item: string>")]),
            rows: 3
        }
    );
    assert_eq!(infer_reader(DataFormat::Json, lines.as_bytes()).unwrap(), got);

    let arr = " [ {\"q\": \"hi\", \"n\": 1.5}, {\"q\": null, \"n\": 2} ] ";
    let got = infer_reader(DataFormat::Json, arr.as_bytes()).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("q", "string"), ("n", "double")]),
            rows: 2
        }
    );

    // Every element counts: a key first seen in the 1,501st element is a column, and a late
    // change of kind is refused naming the element and the column.
    let mut late: String = "[".to_string()
        + &(0..1500)
            .map(|i| format!("{{\"a\": {i}}}"))
            .collect::<Vec<_>>()
            .join(",");
    late.push_str(", {\"a\": 1500, \"b\": \"x\"}]");
    let got = infer_reader(DataFormat::Json, late.as_bytes()).unwrap();
    assert_eq!(got.columns, cols(&[("a", "int64"), ("b", "string")]));
    assert_eq!(got.rows, 1501);
    let clash = late.replace("{\"a\": 1500, \"b\": \"x\"}", "{\"a\": \"text\"}");
    let err = infer_reader(DataFormat::Json, clash.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("element 1501: column /a changed from number to string"),
        "{err}"
    );

    // Many distinct keys cost time in proportion to the keys (one line of 100,000, then
    // 100 lines of 1,000 new keys each: the most a file may hold), not to their square.
    let wide = format!(
        "{{{}}}\n",
        (0..100_000)
            .map(|i| format!("\"k{i}\":1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let got = infer_reader(DataFormat::Jsonl, wide.as_bytes()).unwrap();
    assert_eq!((got.columns.len(), got.rows), (100_000, 1));
    let many: String = (0..100)
        .map(|l| {
            format!(
                "{{{}}}\n",
                (0..1000)
                    .map(|i| format!("\"k{l}_{i}\":1"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    let got = infer_reader(DataFormat::Jsonl, many.as_bytes()).unwrap();
    assert_eq!((got.columns.len(), got.rows), (100_000, 100));
    // A csv header naming a column twice cannot be one schema.
    let err = infer_reader(DataFormat::Csv, "a,a,b\n1,x,2\n".as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("names column \"a\" more than once"), "{err}");

    assert!(matches!(
        infer_reader(DataFormat::Jsonl, "{\"a\":1}\nnot json\n".as_bytes()),
        Err(InferError::Json(_))
    ));
    assert!(matches!(
        infer_reader(DataFormat::Json, "[1, 2]".as_bytes()),
        Err(InferError::Json(_))
    ));
    assert!(matches!(
        infer_reader(DataFormat::Json, "[{\"a\":1}".as_bytes()),
        Err(InferError::Json(_))
    ));
}

#[test]
fn arrow_ipc_file_and_stream() {
    let b = batch(10);
    let mut file = Vec::new();
    {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut file, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.write(&batch(5)).unwrap();
        w.finish().unwrap();
    }
    let want = Inferred {
        columns: cols(&[("id", "int64"), ("name", "string"), ("score", "double")]),
        rows: 15,
    };
    assert_eq!(infer_reader(DataFormat::Arrow, &file[..]).unwrap(), want);
    assert_eq!(infer_reader(DataFormat::Feather, &file[..]).unwrap(), want);

    let mut stream = Vec::new();
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut stream, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.write(&batch(5)).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(infer_reader(DataFormat::Arrow, &stream[..]).unwrap(), want);
    assert!(matches!(
        infer_reader(DataFormat::Arrow, &file[..20]),
        Err(InferError::Arrow(_))
    ));
}

/// JSON lines of ~100 bytes: `lines` records `{"a": i, "pad": "…"}`, record `late` (0-based)
/// also with `"b": "x"`.
fn long_jsonl(lines: usize, late: usize) -> String {
    let pad = "p".repeat(80);
    (0..lines)
        .map(|i| {
            if i == late {
                format!("{{\"a\": {i}, \"pad\": \"{pad}\", \"b\": \"x\"}}\n")
            } else {
                format!("{{\"a\": {i}, \"pad\": \"{pad}\"}}\n")
            }
        })
        .collect()
}

#[test]
fn jsonl_of_many_chunks_is_typed_as_one_pass_would() {
    // ~14 MiB: the file is typed in 4 MiB chunks on several threads. A key first seen in
    // the last chunk is the last column; a late double widens; a clash in a later chunk
    // names its own line; a BOM before the first line is dropped.
    let lines = 140_000;
    let mut text = String::from("\u{feff}");
    text.push_str(&long_jsonl(lines, 130_000));
    text.push_str("{\"a\": 0.5, \"pad\": null}\n");
    let got = infer_reader(DataFormat::Jsonl, text.as_bytes()).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("a", "double"), ("pad", "string"), ("b", "string")]),
            rows: lines as u64 + 1
        }
    );
    let mut bad = long_jsonl(lines, usize::MAX);
    bad.push_str("\n{\"a\": \"text\"}\n{\"a\": [1]}\n");
    let err = infer_reader(DataFormat::Jsonl, bad.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "not a readable json file: line {}: column /a changed from number to string; pyarrow cannot read such a file either",
            lines + 2
        )
    );
}

#[test]
fn json_errors_count_leading_blank_lines_and_keys_are_bounded() {
    // A .json file of JSON lines after blank lines names the line as a .jsonl file does.
    let text = "\n\n\n{\"a\":1}\n{\"a\":\"x\"}\n";
    for format in [DataFormat::Json, DataFormat::Jsonl] {
        let err = infer_reader(format, text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("line 5: column /a changed from number to string"),
            "{format}: {err}"
        );
    }
    // Distinct keys are bounded (a schema of that many columns; memory grows with them),
    // in JSON lines, in arrays and within one object.
    let many: String = (0..100_001).map(|i| format!("{{\"k{i}\": 1}}\n")).collect();
    let err = infer_reader(DataFormat::Jsonl, many.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 100000 distinct keys"), "{err}");
    let array = format!(
        "[{}]",
        (0..100_001)
            .map(|i| format!("{{\"k{i}\": 1}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let err = infer_reader(DataFormat::Json, array.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 100000 distinct keys"), "{err}");
    let wide = format!(
        "{{{}}}\n",
        (0..100_001)
            .map(|i| format!("\"k{i}\": 1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let err = infer_reader(DataFormat::Jsonl, wide.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("an object has more than 100000 keys"), "{err}");
    // Exactly the limit is read.
    let most: String = (0..100_000).map(|i| format!("{{\"k{i}\": 1}}\n")).collect();
    assert_eq!(
        infer_reader(DataFormat::Jsonl, most.as_bytes()).unwrap().columns.len(),
        100_000
    );
}

#[test]
fn csv_of_many_batches_is_typed_as_one_pass_would() {
    // 30,000 fields: typed on a second thread in batches; a late value still widens its
    // column, null tokens still constrain nothing, and the rows are all counted.
    let mut text = String::from("a,b,c\n");
    for i in 0..10_000 {
        text.push_str(&format!("{i},{}.5,{}\n", i % 7, if i % 3 == 0 { "NA" } else { "1" }));
    }
    text.push_str("10000,x,2\n");
    let got = infer_reader(DataFormat::Csv, text.as_bytes()).unwrap();
    assert_eq!(
        got,
        Inferred {
            columns: cols(&[("a", "int64"), ("b", "string"), ("c", "int64")]),
            rows: 10_001
        }
    );
    // One batch only: typed on the calling thread, the same way.
    let got = infer_reader(DataFormat::Csv, "a,b\n1,NA\n2,2.5\n".as_bytes()).unwrap();
    assert_eq!(got.columns, cols(&[("a", "int64"), ("b", "double")]));
}
