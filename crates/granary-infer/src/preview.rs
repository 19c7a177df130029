//! The first rows of a file, as JSON objects in column order: what a registry shows before
//! anyone downloads. Text formats and arrow IPC are read from the front of a stream and
//! stop as soon as they have enough rows; parquet reads its footer and then only the first
//! pages of each column, through any [`ChunkReader`] (a file, bytes, ranged reads of a
//! remote object, …).

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use granary_core::DataFormat;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;

use crate::{arrow_type_name, csv_schema, read_full, read_prefix, InferError, IPC_MAGIC};

/// The most rows a preview holds.
pub const MAX_PREVIEW_ROWS: usize = 100;
/// Text cells longer than this many characters are cut, ending in `…`.
pub const MAX_CELL_CHARS: usize = 1000;

/// Columns (name, arrow type name) and the first rows, each an object keyed by column name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preview {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Map<String, Value>>,
}

impl Preview {
    fn from_batches(schema: &Schema, batches: &[RecordBatch], limit: usize) -> Result<Self, InferError> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), arrow_type_name(f.data_type())))
            .collect();
        let mut out = Vec::new();
        {
            let mut w = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::JsonArray>(&mut out);
            let mut left = limit;
            for b in batches {
                if left == 0 {
                    break;
                }
                let b = b.slice(0, b.num_rows().min(left));
                left -= b.num_rows();
                w.write(&b).map_err(|e| InferError::Arrow(e.to_string()))?;
            }
            w.finish().map_err(|e| InferError::Arrow(e.to_string()))?;
        }
        let mut rows: Vec<Map<String, Value>> = if out.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&out).map_err(|e| InferError::Arrow(e.to_string()))?
        };
        for row in &mut rows {
            row.values_mut().for_each(shorten);
        }
        Ok(Preview { columns, rows })
    }

    /// Appends another file's rows (the next file of the same split), up to `limit` in all.
    pub fn append(&mut self, other: Preview, limit: usize) {
        if self.columns.is_empty() {
            self.columns = other.columns;
        }
        let room = limit.saturating_sub(self.rows.len());
        self.rows.extend(other.rows.into_iter().take(room));
    }
}

fn shorten(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(MAX_CELL_CHARS) {
                s.truncate(cut);
                s.push('…');
            }
        }
        Value::Array(a) => a.iter_mut().for_each(shorten),
        Value::Object(o) => o.values_mut().for_each(shorten),
        _ => {}
    }
}

fn check_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PREVIEW_ROWS)
}

/// The first `limit` rows (at most [`MAX_PREVIEW_ROWS`]) of a csv, json, jsonl or arrow IPC
/// stream. Reads only as far as those rows (csv reads at most a type-inference prefix more).
/// Parquet needs ranged reads: use [`preview_parquet`].
pub fn preview_reader<R: Read>(format: DataFormat, reader: R, limit: usize) -> Result<Preview, InferError> {
    let limit = check_limit(limit);
    match format {
        DataFormat::Csv => preview_csv(reader, limit),
        DataFormat::Jsonl => preview_jsonl(BufReader::with_capacity(1 << 16, reader), limit),
        DataFormat::Json => preview_json(reader, limit),
        DataFormat::Arrow | DataFormat::Feather => preview_ipc(reader, limit),
        DataFormat::Parquet => Err(InferError::Parquet(
            "parquet previews need ranged reads; use preview_parquet".into(),
        )),
    }
}

/// The first `limit` rows of a parquet file: its footer, then page by page from the start
/// of each column until enough rows are decoded. Pages are read one at a time through
/// `input`, so memory holds a few pages per column, never a whole row group.
pub fn preview_parquet<R: ChunkReader + 'static>(input: R, limit: usize) -> Result<Preview, InferError> {
    let limit = check_limit(limit);
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).map_err(perr)?;
    let schema: SchemaRef = builder.schema().clone();
    let reader = builder.with_batch_size(limit).with_limit(limit).build().map_err(perr)?;
    let mut batches = Vec::new();
    let mut rows = 0;
    for b in reader {
        let b = b.map_err(|e| InferError::Parquet(e.to_string()))?;
        rows += b.num_rows();
        batches.push(b);
        if rows >= limit {
            break;
        }
    }
    Preview::from_batches(&schema, &batches, limit)
}

fn preview_csv<R: Read>(mut reader: R, limit: usize) -> Result<Preview, InferError> {
    let (prefix, complete) = read_prefix(&mut reader)?;
    let schema = Arc::new(csv_schema(&prefix, complete)?);
    let csv = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_batch_size(limit)
        .build(Cursor::new(prefix).chain(reader))
        .map_err(|e| InferError::Csv(e.to_string()))?;
    let batches = csv
        .take(1)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| InferError::Csv(e.to_string()))?;
    Preview::from_batches(&schema, &batches, limit)
}

fn objects_preview(values: Vec<Value>, limit: usize) -> Result<Preview, InferError> {
    let jerr = |e: arrow_schema::ArrowError| InferError::Json(e.to_string());
    let schema = Arc::new(arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(jerr)?);
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(limit.max(1))
        .build_decoder()
        .map_err(jerr)?;
    decoder.serialize(&values).map_err(jerr)?;
    let batches: Vec<RecordBatch> = decoder.flush().map_err(jerr)?.into_iter().collect();
    Preview::from_batches(&schema, &batches, limit)
}

fn preview_jsonl<R: BufRead>(reader: R, limit: usize) -> Result<Preview, InferError> {
    let mut values = Vec::with_capacity(limit);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(&line).map_err(|e| InferError::Json(format!("line {}: {e}", i + 1)))?;
        if !v.is_object() {
            return Err(InferError::Json(format!("line {}: expected a JSON object", i + 1)));
        }
        values.push(v);
        if values.len() == limit {
            break;
        }
    }
    objects_preview(values, limit)
}

/// A top-level array of objects (read only as far as `limit` elements), or JSON lines.
fn preview_json<R: Read>(reader: R, limit: usize) -> Result<Preview, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let first = loop {
        let buf = reader.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Err(InferError::Json("file is empty".into()));
        };
        if b.is_ascii_whitespace() {
            reader.consume(1);
        } else {
            break b;
        }
    };
    if first != b'[' {
        return preview_jsonl(reader, limit);
    }
    let mut values = Vec::with_capacity(limit);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = serde::Deserializer::deserialize_seq(
        &mut de,
        FirstElements {
            out: &mut values,
            limit,
        },
    );
    // Stopping early is reported as an error by the deserializer; what was read is kept.
    if values.len() < limit {
        read.map_err(|e| InferError::Json(e.to_string()))?;
    }
    if values.iter().any(|v| !v.is_object()) {
        return Err(InferError::Json("expected an array of objects".into()));
    }
    objects_preview(values, limit)
}

/// Collects the first `limit` elements of an array, then stops reading.
struct FirstElements<'a> {
    out: &'a mut Vec<Value>,
    limit: usize,
}

impl<'de> serde::de::Visitor<'de> for FirstElements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while self.out.len() < self.limit {
            match seq.next_element::<Value>()? {
                Some(v) => self.out.push(v),
                None => return Ok(()),
            }
        }
        Err(serde::de::Error::custom("enough rows"))
    }
}

fn preview_ipc<R: Read>(reader: R, limit: usize) -> Result<Preview, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut head = [0u8; 8];
    let n = read_full(&mut reader, &mut head)?;
    // The file format is the stream format behind an 8-byte magic (and a footer, not needed).
    let pending = if n >= 6 && &head[..6] == IPC_MAGIC {
        // Writers pad the magic with zeros to their alignment; the first message follows.
        loop {
            let mut word = [0u8; 4];
            let got = read_full(&mut reader, &mut word)?;
            if got < 4 || word != [0; 4] {
                break word[..got].to_vec();
            }
        }
    } else if n >= 4 && &head[..4] == b"FEA1" {
        return Err(InferError::Arrow(
            "feather v1 files are not supported; write feather v2 (arrow IPC)".into(),
        ));
    } else {
        head[..n].to_vec()
    };
    let aerr = |e: arrow_schema::ArrowError| InferError::Arrow(e.to_string());
    let stream = arrow_ipc::reader::StreamReader::try_new(Cursor::new(pending).chain(reader), None).map_err(aerr)?;
    let schema = stream.schema();
    let mut batches = Vec::new();
    let mut rows = 0;
    for b in stream {
        let b = b.map_err(aerr)?;
        rows += b.num_rows();
        batches.push(b);
        if rows >= limit {
            break;
        }
    }
    Preview::from_batches(&schema, &batches, limit)
}
