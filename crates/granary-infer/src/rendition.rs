//! Parquet renditions: a csv, json, jsonl, arrow or feather file rewritten as parquet with
//! its published schema (the columns and Arrow types inference computed at publish), so
//! DuckDB, polars and pandas read any dataset in place, and the viewer reads every file by
//! row group and page.
//!
//! Files are streamed: a batch of rows at a time is decoded and written, so memory holds a
//! batch per column whatever the file's size. Values are read by the rules that typed the
//! columns (csv cells as a preview shows them: pyarrow's null tokens, integers, doubles and
//! booleans; temporal text parsed to its Arrow type).

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use granary_core::DataFormat;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use crate::InferError;

mod csv_file;
pub(crate) use csv_file::typed_cell;

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

/// The Arrow schema a rendition of published `columns` is written with: the published
/// types, except that a seconds unit (`timestamp[s]`, `time32[s]`), which parquet cannot
/// hold, is written in milliseconds, as `pyarrow.parquet.write_table` writes it (so pyarrow,
/// DuckDB, polars and pandas read timestamps and times, not bare integers). An error
/// names the first type that has no rendition.
pub fn published_schema(columns: &[(String, String)]) -> Result<SchemaRef, InferError> {
    let fields = columns
        .iter()
        .map(|(name, ty)| {
            parse_type(ty)
                .map(|dt| Field::new(name, storable(dt), true))
                .ok_or_else(|| InferError::Arrow(format!("column {name:?} of type {ty} has no parquet rendition")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// `dt` as parquet can hold it: seconds become milliseconds (in lists too).
fn storable(dt: DataType) -> DataType {
    match dt {
        DataType::Timestamp(TimeUnit::Second, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz),
        DataType::Time32(TimeUnit::Second) => DataType::Time32(TimeUnit::Millisecond),
        DataType::List(f) => DataType::List(Arc::new(Field::new(f.name(), storable(f.data_type().clone()), true))),
        other => other,
    }
}

fn writer<W: Write + Send>(out: W, schema: SchemaRef) -> Result<ArrowWriter<W>, InferError> {
    writer_with(out, schema, &[])
}

/// A rendition's writer: snappy, [`ROW_GROUP_ROWS`]-row groups, page statistics and
/// indexes, dictionary encoding except for the top-level columns `plain`.
fn writer_with<W: Write + Send>(out: W, schema: SchemaRef, plain: &[&str]) -> Result<ArrowWriter<W>, InferError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS);
    for name in plain {
        props = props.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(*name), false);
    }
    ArrowWriter::try_new(out, schema, Some(props.build())).map_err(|e| InferError::Parquet(e.to_string()))
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
        DataFormat::Csv => crate::guarded(InferError::Csv, || csv_file::to_parquet(file, columns, out)),
        DataFormat::Jsonl => crate::guarded(InferError::Json, || {
            jsonl_to_parquet(BufReader::new(file), columns, out)
        }),
        DataFormat::Json => crate::guarded(InferError::Json, || json_to_parquet(file, columns, out)),
        DataFormat::Arrow | DataFormat::Feather => crate::guarded(InferError::Arrow, || ipc_to_parquet(input, out)),
    }
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
    let aerr = |e: arrow_schema::ArrowError| InferError::Arrow(e.to_string());
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(storable(f.data_type().clone())))
        .collect();
    let stored = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let recast = stored != schema;
    let mut w = writer(out, stored.clone())?;
    let mut total = 0u64;
    for b in batches {
        let mut b = b.map_err(aerr)?;
        if recast {
            let columns = b
                .columns()
                .iter()
                .zip(stored.fields())
                .map(|(c, f)| arrow_cast::cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(aerr)?;
            b = RecordBatch::try_new(stored.clone(), columns).map_err(aerr)?;
        }
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
