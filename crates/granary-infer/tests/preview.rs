use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use granary_core::DataFormat;
use granary_infer::{preview_parquet, preview_reader, preview_reader_typed, Budget, InferError, MAX_CELL_CHARS};
use serde_json::{json, Value};
use std::sync::Arc;

fn batch(from: i64, n: i64) -> RecordBatch {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n));
    let names: ArrayRef = Arc::new(StringArray::from_iter(
        (from..from + n).map(|i| (i % 3 != 0).then(|| format!("row {i}"))),
    ));
    RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap()
}

fn rows(p: &granary_infer::Preview) -> Vec<Value> {
    p.rows.iter().map(|r| Value::Object(r.clone())).collect()
}

#[test]
fn parquet_preview_reads_first_rows_of_compressed_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_size(50)
        .build();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch(0, 1).schema(), Some(props))
            .unwrap();
    w.write(&batch(0, 500)).unwrap();
    w.close().unwrap();
    let p = preview_parquet(
        std::fs::File::open(&path).unwrap(),
        70,
        std::sync::Arc::new(Budget::default()),
    )
    .unwrap();
    assert_eq!(
        p.columns,
        vec![("id".into(), "int64".into()), ("name".into(), "string".into())]
    );
    assert_eq!(p.rows.len(), 70, "two row groups of 50 are needed for 70 rows");
    assert_eq!(rows(&p)[0], json!({"id": 0, "name": null}));
    assert_eq!(rows(&p)[68], json!({"id": 68, "name": "row 68"}));
    assert_eq!(rows(&p)[69], json!({"id": 69, "name": null}));
    // more than the cap is cut to 100
    assert_eq!(
        preview_parquet(
            std::fs::File::open(&path).unwrap(),
            1000,
            std::sync::Arc::new(Budget::default())
        )
        .unwrap()
        .rows
        .len(),
        100
    );
}

#[test]
fn csv_preview_shows_cells_by_the_published_types() {
    // With the file's published schema, cells are read by its types: numbers, booleans,
    // pyarrow's null tokens as null in typed columns, text kept in string columns.
    let data = "id,text,score,ok\n1,\"two\nlines\",0.5,True\n0x1F,NA,NaN,0\n3,\"a,b\", 2 ,\n";
    let columns: Vec<(String, String)> = [("id", "int64"), ("text", "string"), ("score", "double"), ("ok", "bool")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let p = preview_reader_typed(DataFormat::Csv, data.as_bytes(), 3, &Budget::default(), Some(&columns)).unwrap();
    assert_eq!(p.columns, columns);
    assert_eq!(
        rows(&p),
        vec![
            json!({"id": 1, "text": "two\nlines", "score": 0.5, "ok": true}),
            json!({"id": 31, "text": "NA", "score": null, "ok": false}),
            json!({"id": 3, "text": "a,b", "score": 2.0, "ok": null}),
        ]
    );
    let keys: Vec<&String> = p.rows[0].keys().collect();
    assert_eq!(keys, ["id", "text", "score", "ok"]);
    // Without a schema, every cell is its text.
    let p = preview_reader(DataFormat::Csv, data.as_bytes(), 1, &Budget::default()).unwrap();
    assert_eq!(
        rows(&p),
        vec![json!({"id": "1", "text": "two\nlines", "score": "0.5", "ok": "True"})]
    );
}

#[test]
fn json_lines_preview_shows_the_published_columns() {
    // A key the first rows lack is a column; several records may share a line.
    let data = "{\"a\": 1} {\"a\": 2}\n{\"a\": 3, \"b\": \"x\"}\n";
    let columns: Vec<(String, String)> = vec![("a".into(), "int64".into()), ("b".into(), "string".into())];
    let p = preview_reader_typed(
        DataFormat::Jsonl,
        data.as_bytes(),
        2,
        &Budget::default(),
        Some(&columns),
    )
    .unwrap();
    assert_eq!(p.columns, columns);
    assert_eq!(rows(&p), vec![json!({"a": 1, "b": null}), json!({"a": 2, "b": null})]);
}

#[test]
fn json_array_preview_stops_reading_after_enough_rows() {
    // Everything after the first 100 objects is garbage: a preview never reads that far.
    let mut data = String::from("[");
    for i in 0..150 {
        data.push_str(&format!("{{\"i\": {i}, \"s\": \"<script>{i}\"}},"));
    }
    data.push_str("this is not json");
    let p = preview_reader(DataFormat::Json, data.as_bytes(), 100, &Budget::default()).unwrap();
    assert_eq!(p.rows.len(), 100);
    assert_eq!(rows(&p)[99], json!({"i": 99, "s": "<script>99"}));
    // a short array is read whole; a broken short one is an error
    let p = preview_reader(
        DataFormat::Json,
        &b" [{\"a\": 1}, {\"a\": null}]"[..],
        10,
        &Budget::default(),
    )
    .unwrap();
    assert_eq!(rows(&p), vec![json!({"a": 1}), json!({"a": null})]);
    let err = preview_reader(DataFormat::Json, &b"[{\"a\": 1}, oops"[..], 10, &Budget::default()).unwrap_err();
    assert!(matches!(err, InferError::Json(_)), "{err}");
}

#[test]
fn jsonl_preview_and_long_cells() {
    let long = "x".repeat(MAX_CELL_CHARS + 50);
    let data = format!("{{\"a\": 1, \"t\": \"{long}\"}}\n\n{{\"a\": 2}}\n{{\"a\": 3}}\n");
    let p = preview_reader(DataFormat::Jsonl, data.as_bytes(), 2, &Budget::default()).unwrap();
    assert_eq!(p.rows.len(), 2);
    let cut = p.rows[0]["t"].as_str().unwrap();
    assert_eq!(cut.chars().count(), MAX_CELL_CHARS + 1);
    assert!(cut.ends_with('…'));
    assert_eq!(rows(&p)[1], json!({"a": 2, "t": null}));
}

#[test]
fn arrow_ipc_file_with_lz4_and_stream() {
    let b = batch(0, 30);
    let mut file = Vec::new();
    let opts = arrow_ipc::writer::IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
        .unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new_with_options(&mut file, &b.schema(), opts).unwrap();
    w.write(&b).unwrap();
    w.write(&batch(30, 30)).unwrap();
    w.finish().unwrap();
    drop(w);
    let p = preview_reader(DataFormat::Arrow, &file[..], 40, &Budget::default()).unwrap();
    assert_eq!(p.rows.len(), 40);
    assert_eq!(rows(&p)[35], json!({"id": 35, "name": "row 35"}));

    let mut stream = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut stream, &b.schema()).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    drop(w);
    let p = preview_reader(DataFormat::Feather, &stream[..], 5, &Budget::default()).unwrap();
    assert_eq!(rows(&p)[3], json!({"id": 3, "name": null}));
}

/// Bytes of a file, counting every byte handed out.
struct Counting {
    bytes: bytes::Bytes,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl parquet::file::reader::Length for Counting {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl parquet::file::reader::ChunkReader for Counting {
    type T = CountingRead;
    fn get_read(&self, start: u64) -> parquet::errors::Result<CountingRead> {
        Ok(CountingRead {
            rest: self.bytes.slice(start as usize..),
            read: self.read.clone(),
        })
    }
    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.read.fetch_add(length as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(self.bytes.slice(start as usize..start as usize + length))
    }
}

struct CountingRead {
    rest: bytes::Bytes,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Read for CountingRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = self.rest.slice(n..);
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn parquet_preview_of_one_huge_row_group_reads_only_its_first_pages() {
    // One row group of 200,000 distinct 100-character strings (~20 MB, uncompressed).
    let n = 200_000;
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
    let text: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("{i:0100}"))));
    let b = RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_size(n as usize)
        .build();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    assert!(out.len() > 20_000_000, "{}", out.len());
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let src = Counting {
        bytes: out.into(),
        read: read.clone(),
    };
    let p = preview_parquet(src, 100, std::sync::Arc::new(Budget::default())).unwrap();
    assert_eq!(rows(&p)[99], json!({"id": 99, "text": format!("{:0100}", 99)}));
    let read = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read < 4_000_000, "read {read} bytes of a 20 MB file for 100 rows");
}
