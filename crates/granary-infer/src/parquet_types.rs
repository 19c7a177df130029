//! A parquet file's arrow schema as pyarrow reads it (`pyarrow.parquet.read_schema`).
//!
//! arrow-rs converts the parquet schema and applies the stored arrow schema (the
//! `ARROW:schema` key) where it can; pyarrow applies that stored schema by its own rules
//! (`ApplyOriginalMetadata` in Arrow C++'s `parquet/arrow/schema.cc`). Where they differ,
//! pyarrow's answer is the one shown:
//! - a zoned timestamp is stored as UTC; its zone is restored from the stored schema at any
//!   depth (inside lists, structs and maps too), keeping the unit parquet holds;
//! - `date64` is stored as a date and read as `date32[day]`;
//! - a dictionary column is read as a dictionary of `string` (or `binary`) values whatever
//!   the width of the stored dictionary's values, and an all-null one as `null`;
//! - a map's entries carry the map field's name, its key and value `key` and `value`
//!   (pyarrow prints names that differ from the standard ones, `map<string, int64 ('m')>`);
//! - a dictionary of other values (integers, timestamps, …) is read as those values, with
//!   the type parquet holds (a zoned timestamp's zone is then `UTC`);
//! - a list view is read as a list view (arrow-rs reads it as a list: [`reader_schema`]).

use arrow_schema::{DataType, Field, Fields, Schema};
use base64::Engine;
use std::sync::Arc;

/// The key parquet writers store the arrow schema under.
const ARROW_SCHEMA_KEY: &str = "ARROW:schema";

/// The stored arrow schema of a parquet file, if it has a readable one.
pub(crate) fn stored_schema(kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Option<Schema> {
    let value = kv?.iter().find(|k| k.key == ARROW_SCHEMA_KEY)?.value.as_ref()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    // An IPC message: continuation marker and length (or the legacy length alone).
    let body = if bytes.len() > 8 && bytes[..4] == [0xff; 4] {
        &bytes[8..]
    } else {
        bytes.get(4..)?
    };
    let msg = arrow_ipc::root_as_message(body).ok()?;
    msg.header_as_schema().map(arrow_ipc::convert::fb_to_schema)
}

/// A parquet file's schema as pyarrow reads it (`pyarrow.parquet.read_schema`), from its
/// parquet schema and key-value metadata. Errors when arrow-rs cannot read the parquet
/// schema at all.
pub(crate) fn pyarrow_schema(
    descr: &parquet::schema::types::SchemaDescriptor,
    kv: Option<&Vec<parquet::file::metadata::KeyValue>>,
) -> Result<Schema, parquet::errors::ParquetError> {
    let native = parquet::arrow::parquet_to_arrow_schema(descr, None)?;
    // arrow-rs refuses some stored schemas (list views): then parquet's own types, with
    // pyarrow's rules applied from the stored schema below.
    let hinted = parquet::arrow::parquet_to_arrow_schema(descr, kv).unwrap_or_else(|_| native.clone());
    let stored = stored_schema(kv);
    Ok(as_pyarrow(&hinted, stored.as_ref(), &native))
}

/// The schema to ask arrow-rs to read a file with so that its values are those of
/// `pyarrow` (a [`pyarrow_schema`]): the same types, with list views read as lists (arrow-rs
/// reads no list view from parquet; their values are the same).
pub(crate) fn reader_schema(pyarrow: &Schema) -> Schema {
    fn plain(dt: &DataType) -> DataType {
        use DataType::*;
        let f = |f: &Arc<Field>| Arc::new(f.as_ref().clone().with_data_type(plain(f.data_type())));
        match dt {
            List(c) | ListView(c) => List(f(c)),
            LargeList(c) | LargeListView(c) => LargeList(f(c)),
            FixedSizeList(c, n) => FixedSizeList(f(c), *n),
            Struct(fs) => Struct(fs.iter().map(f).collect()),
            Map(e, sorted) => Map(f(e), *sorted),
            Dictionary(k, v) => Dictionary(k.clone(), Box::new(plain(v))),
            other => other.clone(),
        }
    }
    let fields: Vec<Field> = pyarrow
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain(f.data_type())))
        .collect();
    Schema::new_with_metadata(fields, pyarrow.metadata().clone())
}

/// `schema` (arrow-rs's reading of the parquet schema) as pyarrow reads it, given the
/// file's `stored` arrow schema and `native`, arrow-rs's reading without it.
pub(crate) fn as_pyarrow(schema: &Schema, stored: Option<&Schema>, native: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let hint = stored.and_then(|s| s.fields().get(i)).filter(|h| h.name() == f.name());
            match (f.data_type(), native.fields().get(i)) {
                (DataType::Dictionary(_, v), Some(n)) if !binary_like(v) && n.name() == f.name() => n.as_ref().clone(),
                _ => field(f, hint.map(|h| h.as_ref())),
            }
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Values pyarrow keeps dictionary-encoded when it reads parquet.
fn binary_like(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView | Null
    )
}

fn field(f: &Field, hint: Option<&Field>) -> Field {
    let out = f
        .clone()
        .with_data_type(data_type(f.data_type(), f.name(), hint.map(Field::data_type)));
    // An ordered dictionary (categorical) stays ordered.
    match hint.and_then(Field::dict_is_ordered) {
        Some(ordered) => out.with_dict_is_ordered(ordered),
        None => out,
    }
}

fn data_type(dt: &DataType, name: &str, hint: Option<&DataType>) -> DataType {
    use DataType::*;
    match (dt, hint) {
        (Timestamp(unit, Some(tz)), Some(Timestamp(_, Some(stored)))) if tz.as_ref() == "UTC" || tz == stored => {
            Timestamp(*unit, Some(stored.clone()))
        }
        (Date64, _) => Date32,
        (Dictionary(_, v), _) if v.as_ref() == &Null => Null,
        (Dictionary(k, v), _) => {
            let values = match v.as_ref() {
                LargeUtf8 | Utf8View => Utf8,
                LargeBinary | BinaryView => Binary,
                other => data_type(other, name, None),
            };
            Dictionary(k.clone(), Box::new(values))
        }
        (List(f), Some(ListView(_))) => ListView(child(f, hint)),
        (List(f) | LargeList(f), Some(LargeListView(_))) => LargeListView(child(f, hint)),
        (List(f), h) => List(child(f, h)),
        (LargeList(f), h) => LargeList(child(f, h)),
        (FixedSizeList(f, n), h) => FixedSizeList(child(f, h), *n),
        (Struct(fs), h) => {
            let hints = match h {
                Some(Struct(hs)) if hs.len() == fs.len() => Some(hs),
                _ => None,
            };
            Struct(Fields::from_iter(
                fs.iter()
                    .enumerate()
                    .map(|(i, f)| field(f, hints.map(|hs| hs[i].as_ref()))),
            ))
        }
        (Map(entries, sorted), h) => {
            let hint_entries = match h {
                Some(Map(he, _)) => Some(he.data_type()),
                _ => None,
            };
            let kv = match (entries.data_type(), hint_entries) {
                (Struct(kv), Some(Struct(hkv))) if kv.len() == 2 && hkv.len() == 2 => Struct(Fields::from(vec![
                    field(&kv[0], Some(&hkv[0])).with_name("key"),
                    field(&kv[1], Some(&hkv[1])).with_name("value"),
                ])),
                (Struct(kv), _) if kv.len() == 2 => Struct(Fields::from(vec![
                    field(&kv[0], None).with_name("key"),
                    field(&kv[1], None).with_name("value"),
                ])),
                (other, _) => other.clone(),
            };
            Map(Arc::new(Field::new(name, kv, entries.is_nullable())), *sorted)
        }
        (other, _) => other.clone(),
    }
}

/// A list's item field with its type read as pyarrow reads it, hinted by the stored list's.
fn child(f: &Arc<Field>, hint: Option<&DataType>) -> Arc<Field> {
    use DataType::*;
    let h = match hint {
        Some(List(h) | LargeList(h) | ListView(h) | LargeListView(h) | FixedSizeList(h, _)) => Some(h.as_ref()),
        _ => None,
    };
    Arc::new(field(f, h))
}
