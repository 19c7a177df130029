//! Parquet renditions: a csv, json, jsonl, arrow or feather file rewritten as parquet with
//! its published schema (the columns and Arrow types inference computed at publish), so
//! DuckDB, polars and pandas read any dataset in place, and the viewer reads every file by
//! row group and page.
//!
//! Files are streamed: a batch of rows at a time is decoded and written, so memory holds a
//! batch per column whatever the file's size. Values are read by the rules that typed the
//! columns (csv cells as a preview shows them: pyarrow's null tokens, integers, doubles and
//! booleans; temporal text parsed to its Arrow type).

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, NullArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use granary_core::DataFormat;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use crate::InferError;

/// Rows decoded and written at a time.
pub const BATCH_ROWS: usize = 65_536;
/// Rows per row group of a rendition: small enough that rows at any offset cost little.
pub const ROW_GROUP_ROWS: usize = 131_072;

/// The Arrow type an Arrow type name (as [`arrow_type_name`](crate::arrow_type_name)
/// writes it) names, for the types inference gives text formats: integers, floating point,
/// `bool`, `string`/`large_string`, `binary`, `null`, `date32[day]`, `date64[ms]`,
/// `timestamp[unit]` (with `, tz=…`), `time32[s|ms]`, `time64[us|ns]`, `duration[unit]`,
/// `decimal128(p, s)` and `list<item: T>`. `None` for anything else.
pub fn parse_type(name: &str) -> Option<DataType> {
    let unit = |u: &str| match u {
        "s" => Some(TimeUnit::Second),
        "ms" => Some(TimeUnit::Millisecond),
        "us" => Some(TimeUnit::Microsecond),
        "ns" => Some(TimeUnit::Nanosecond),
        _ => None,
    };
    let name = name.trim();
    Some(match name {
        "null" => DataType::Null,
        "bool" => DataType::Boolean,
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "halffloat" => DataType::Float16,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        "string" => DataType::Utf8,
        "large_string" => DataType::LargeUtf8,
        "binary" => DataType::Binary,
        "large_binary" => DataType::LargeBinary,
        "date32[day]" => DataType::Date32,
        "date64[ms]" => DataType::Date64,
        _ => {
            if let Some(inner) = name.strip_prefix("timestamp[").and_then(|r| r.strip_suffix(']')) {
                return match inner.split_once(", tz=") {
                    Some((u, tz)) => Some(DataType::Timestamp(unit(u)?, Some(tz.into()))),
                    None => Some(DataType::Timestamp(unit(inner)?, None)),
                };
            }
            if let Some(u) = name.strip_prefix("time32[").and_then(|r| r.strip_suffix(']')) {
                return Some(DataType::Time32(unit(u)?));
            }
            if let Some(u) = name.strip_prefix("time64[").and_then(|r| r.strip_suffix(']')) {
                return Some(DataType::Time64(unit(u)?));
            }
            if let Some(u) = name.strip_prefix("duration[").and_then(|r| r.strip_suffix(']')) {
                return Some(DataType::Duration(unit(u)?));
            }
            if let Some(ps) = name.strip_prefix("decimal128(").and_then(|r| r.strip_suffix(')')) {
                let (p, s) = ps.split_once(',')?;
                return Some(DataType::Decimal128(p.trim().parse().ok()?, s.trim().parse().ok()?));
            }
            if let Some(inner) = name.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
                let (field, ty) = inner.split_once(": ")?;
                return Some(DataType::List(Arc::new(Field::new(field, parse_type(ty)?, true))));
            }
            return None;
        }
    })
}

/// The Arrow schema of published `columns`; an error naming the first type that has no
/// rendition.
pub fn published_schema(columns: &[(String, String)]) -> Result<SchemaRef, InferError> {
    let fields = columns
        .iter()
        .map(|(name, ty)| {
            parse_type(ty)
                .map(|dt| Field::new(name, dt, true))
                .ok_or_else(|| InferError::Arrow(format!("column {name:?} of type {ty} has no parquet rendition")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

fn writer<W: Write + Send>(out: W, schema: SchemaRef) -> Result<ArrowWriter<W>, InferError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .build();
    ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| InferError::Parquet(e.to_string()))
}

fn perr(e: parquet::errors::ParquetError) -> InferError {
    InferError::Parquet(e.to_string())
}

/// Writes the file at `input` (read as `format`, with published `columns`) to `out` as
/// parquet. Returns the rows written. Errors: the format's error when a value cannot be
/// read as its column's type, [`InferError::Arrow`] for a type without rendition.
pub fn to_parquet<W: Write + Send>(
    format: DataFormat,
    input: &Path,
    columns: &[(String, String)],
    out: W,
) -> Result<u64, InferError> {
    let file = std::fs::File::open(input)?;
    match format {
        DataFormat::Parquet => Err(InferError::Parquet("a parquet file needs no rendition".into())),
        DataFormat::Csv => crate::guarded(InferError::Csv, || csv_to_parquet(file, columns, out)),
        DataFormat::Jsonl => crate::guarded(InferError::Json, || {
            jsonl_to_parquet(BufReader::new(file), columns, out)
        }),
        DataFormat::Json => crate::guarded(InferError::Json, || json_to_parquet(file, columns, out)),
        DataFormat::Arrow | DataFormat::Feather => crate::guarded(InferError::Arrow, || ipc_to_parquet(input, out)),
    }
}

fn csv_to_parquet<R: Read, W: Write + Send>(
    reader: R,
    columns: &[(String, String)],
    out: W,
) -> Result<u64, InferError> {
    let schema = published_schema(columns)?;
    let mut w = writer(out, schema.clone())?;
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    if reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let cerr = |e: csv::Error| InferError::Csv(e.to_string());
    csv.byte_headers().map_err(cerr)?;
    let mut rows: Vec<csv::ByteRecord> = Vec::with_capacity(BATCH_ROWS);
    let mut total = 0u64;
    loop {
        let mut record = csv::ByteRecord::new();
        let more = csv.read_byte_record(&mut record).map_err(cerr)?;
        if more {
            rows.push(record);
        }
        if rows.len() == BATCH_ROWS || (!more && !rows.is_empty()) {
            let batch = csv_batch(&schema, columns, &rows)?;
            total += batch.num_rows() as u64;
            w.write(&batch).map_err(perr)?;
            rows.clear();
        }
        if !more {
            break;
        }
    }
    w.close().map_err(perr)?;
    Ok(total)
}

/// One batch of csv records as arrays of the published types.
fn csv_batch(
    schema: &SchemaRef,
    columns: &[(String, String)],
    rows: &[csv::ByteRecord],
) -> Result<RecordBatch, InferError> {
    use serde_json::Value;
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, (name, kind)) in columns.iter().enumerate() {
        fn cell(r: &csv::ByteRecord, i: usize) -> Option<&[u8]> {
            r.get(i)
        }
        let typed =
            |r: &csv::ByteRecord| cell(r, i).map_or(Value::Null, |c| crate::csv_types::preview_cell(c, Some(kind)));
        let bad = |v: &Value| InferError::Csv(format!("column {name:?}: {v} is not a {kind}"));
        let array: ArrayRef = match kind.as_str() {
            "null" => Arc::new(NullArray::new(rows.len())),
            "int64" => {
                let mut b = Int64Builder::with_capacity(rows.len());
                for r in rows {
                    match typed(r) {
                        Value::Null => b.append_null(),
                        Value::Number(n) => b.append_value(n.as_i64().ok_or_else(|| bad(&Value::Number(n.clone())))?),
                        other => return Err(bad(&other)),
                    }
                }
                Arc::new(b.finish())
            }
            "double" => {
                let mut b = Float64Builder::with_capacity(rows.len());
                for r in rows {
                    match typed(r) {
                        Value::Null => b.append_null(),
                        Value::Number(n) => b.append_value(n.as_f64().unwrap_or(f64::NAN)),
                        // Non-finite doubles are kept as their text by the preview.
                        Value::String(s) => b.append_value(
                            s.trim()
                                .trim_start_matches('+')
                                .parse::<f64>()
                                .map_err(|_| bad(&Value::String(s.clone())))?,
                        ),
                        other => return Err(bad(&other)),
                    }
                }
                Arc::new(b.finish())
            }
            "bool" => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                for r in rows {
                    match typed(r) {
                        Value::Null => b.append_null(),
                        Value::Bool(x) => b.append_value(x),
                        other => return Err(bad(&other)),
                    }
                }
                Arc::new(b.finish())
            }
            "string" => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                for r in rows {
                    match cell(r, i) {
                        Some(c) => b.append_value(String::from_utf8_lossy(c)),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            "binary" => {
                let mut b = BinaryBuilder::with_capacity(rows.len(), rows.len() * 8);
                for r in rows {
                    match cell(r, i) {
                        Some(c) => b.append_value(c),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            // Temporal columns: the cell's text, parsed to the column's type by arrow's cast.
            _ => {
                let text: StringArray = rows
                    .iter()
                    .map(|r| match typed(r) {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    })
                    .collect();
                let target = schema.field(i).data_type();
                arrow_cast::cast(&text, target).map_err(|e| InferError::Csv(format!("column {name:?}: {e}")))?
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| InferError::Csv(e.to_string()))
}

fn jsonl_to_parquet<R: BufRead, W: Write + Send>(
    reader: R,
    columns: &[(String, String)],
    out: W,
) -> Result<u64, InferError> {
    let schema = published_schema(columns)?;
    let jerr = |e: arrow_schema::ArrowError| InferError::Json(e.to_string());
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build(reader)
        .map_err(jerr)?;
    let mut w = writer(out, schema)?;
    let mut total = 0u64;
    for batch in reader {
        let batch = batch.map_err(jerr)?;
        total += batch.num_rows() as u64;
        w.write(&batch).map_err(perr)?;
    }
    w.close().map_err(perr)?;
    Ok(total)
}

/// A top-level array of objects, element by element; anything else is read as JSON lines.
fn json_to_parquet<R: Read, W: Write + Send>(
    reader: R,
    columns: &[(String, String)],
    out: W,
) -> Result<u64, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    loop {
        let buf = reader.fill_buf()?;
        match buf.first() {
            Some(b) if b.is_ascii_whitespace() => reader.consume(1),
            Some(b'[') => break,
            _ => return jsonl_to_parquet(reader, columns, out),
        }
    }
    let schema = published_schema(columns)?;
    let jerr = |e: arrow_schema::ArrowError| InferError::Json(e.to_string());
    let decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .map_err(jerr)?;
    let mut sink = ArraySink {
        decoder,
        writer: writer(out, schema)?,
        pending: Vec::with_capacity(4096),
        total: 0,
        error: None,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    serde::Deserializer::deserialize_seq(&mut de, &mut sink).map_err(|e| InferError::Json(e.to_string()))?;
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    sink.flush()?;
    let ArraySink { writer, total, .. } = sink;
    writer.close().map_err(perr)?;
    Ok(total)
}

/// Receives array elements and writes them in batches.
struct ArraySink<W: Write + Send> {
    decoder: arrow_json::reader::Decoder,
    writer: ArrowWriter<W>,
    pending: Vec<serde_json::Value>,
    total: u64,
    error: Option<InferError>,
}

impl<W: Write + Send> ArraySink<W> {
    fn flush(&mut self) -> Result<(), InferError> {
        let jerr = |e: arrow_schema::ArrowError| InferError::Json(e.to_string());
        if !self.pending.is_empty() {
            self.decoder.serialize(&self.pending).map_err(jerr)?;
            self.pending.clear();
        }
        while let Some(batch) = self.decoder.flush().map_err(jerr)? {
            self.total += batch.num_rows() as u64;
            self.writer.write(&batch).map_err(perr)?;
        }
        Ok(())
    }
}

impl<'de, W: Write + Send> serde::de::Visitor<'de> for &mut ArraySink<W> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            self.pending.push(v);
            if self.pending.len() == 4096 {
                if let Err(e) = self.flush() {
                    self.error = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
        }
        Ok(())
    }
}

fn ipc_to_parquet<W: Write + Send>(input: &Path, out: W) -> Result<u64, InferError> {
    let aerr = |e: arrow_schema::ArrowError| InferError::Arrow(e.to_string());
    let mut head = [0u8; 6];
    let n = crate::read_full(&mut std::fs::File::open(input)?, &mut head)?;
    if n == 6 && head[..] == crate::IPC_MAGIC[..] {
        let r = arrow_ipc::reader::FileReader::try_new(std::fs::File::open(input)?, None).map_err(aerr)?;
        let schema = r.schema();
        return write_all(schema, r, out);
    }
    let r =
        arrow_ipc::reader::StreamReader::try_new(BufReader::new(std::fs::File::open(input)?), None).map_err(aerr)?;
    let schema = r.schema();
    write_all(schema, r, out)
}

fn write_all<W: Write + Send>(
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>,
    out: W,
) -> Result<u64, InferError> {
    let mut w = writer(out, schema)?;
    let mut total = 0u64;
    for b in batches {
        let b = b.map_err(|e| InferError::Arrow(e.to_string()))?;
        total += b.num_rows() as u64;
        w.write(&b).map_err(perr)?;
    }
    w.close().map_err(perr)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_parse_back() {
        for dt in [
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Second, None),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+01:00".into())),
            DataType::Decimal128(38, 9),
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        ] {
            let name = crate::arrow_type_name(&dt);
            assert_eq!(parse_type(&name), Some(dt), "{name}");
        }
        assert_eq!(parse_type("struct<a: int64>"), None);
    }
}
