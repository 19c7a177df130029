//! Whole-file JSON-lines type inference with pyarrow's rules (`pyarrow.json.read_json`
//! with default options), from every record, without building the records in memory.
//!
//! Each record's type is computed while it is parsed (a serde visitor that keeps no
//! values) and merged into the file's type: `null` merges with anything; integers that fit
//! int64 are `int64`, any other number makes the column `double`; strings that are ISO 8601
//! dates or date-times without a fraction (`YYYY-MM-DD`, then `T` or a space and
//! `HH[:MM[:SS]]`, an optional `Z` or offset) are `timestamp[s]` until one is not; lists
//! merge their items; objects merge their keys, a key first seen late added at the end. A
//! column whose values change kind (number, string, boolean, array, object) is refused, as
//! pyarrow refuses it, naming the column and the line. Checked against pyarrow by the
//! differential test `tests/pyarrow_json.rs`.

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use indexmap::map::Entry;
use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// An object's keys and their types, in order of first appearance. Hashed with foldhash
/// (seeded per process): a record's keys are hashed twice (typed, then merged), and
/// SipHash was a fifth of the time of typing a file.
pub(crate) type Keys = IndexMap<String, JsonType, foldhash::fast::RandomState>;

/// Most distinct keys a JSON file's records may hold, nested keys included: past it the
/// file is refused (its schema would be that many columns, and the type held while typing
/// grows with it).
pub const MAX_JSON_KEYS: usize = 100_000;

/// A JSON value's type, as pyarrow's JSON reader infers it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JsonType {
    Null,
    Bool,
    Int,
    Double,
    /// `timestamp`: every string so far was an ISO 8601 date or date-time.
    Str {
        timestamp: bool,
    },
    List(Box<JsonType>),
    /// Keys in order of first appearance; looked up by hash, so merging records with many
    /// keys costs time in proportion to their keys.
    Struct(Keys),
}

impl JsonType {
    fn kind(&self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "boolean",
            JsonType::Int | JsonType::Double => "number",
            JsonType::Str { .. } => "string",
            JsonType::List(_) => "array",
            JsonType::Struct(_) => "object",
        }
    }

    /// Keys in this type, nested keys included (the columns its schema would show, at
    /// every level).
    pub(crate) fn width(&self) -> usize {
        match self {
            JsonType::List(item) => item.width(),
            JsonType::Struct(fields) => fields.values().map(|t| 1 + t.width()).sum(),
            _ => 0,
        }
    }

    /// The kind with an article, for messages (`a number`, `an array`).
    pub(crate) fn kind_phrase(&self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "a boolean",
            JsonType::Int | JsonType::Double => "a number",
            JsonType::Str { .. } => "a string",
            JsonType::List(_) => "an array",
            JsonType::Struct(_) => "an object",
        }
    }

    /// Merges `other` into `self`; on a change of kind, the column's path (`/a/b`, `[]`
    /// for list items) and the two kinds.
    pub(crate) fn merge(&mut self, other: JsonType, path: &str) -> Result<usize, String> {
        self.merge_at(other, &|| path.to_string())
    }

    /// [`Self::merge`], with the path built only when it is needed (a clash, or a nested
    /// value), so merging a record costs no allocation per key. Returns how many keys the
    /// merge added (nested keys included; see [`Self::width`]).
    fn merge_at(&mut self, other: JsonType, path: &dyn Fn() -> String) -> Result<usize, String> {
        use JsonType::*;
        let mut added = 0;
        match (&mut *self, other) {
            (_, Null) => {}
            (Null, o) => {
                added = o.width();
                *self = o;
            }
            (Bool, Bool) | (Double, Int) | (Double, Double) | (Int, Int) => {}
            (Int, Double) => *self = Double,
            (Str { timestamp: a }, Str { timestamp: b }) => *a = *a && b,
            (List(a), List(b)) => added = a.merge_at(*b, &|| format!("{}/[]", path()))?,
            (Struct(fields), Struct(more)) => {
                for (name, t) in more {
                    match fields.get_full_mut(&name) {
                        Some((_, key, have)) => added += have.merge_at(t, &|| format!("{}/{key}", path()))?,
                        None => {
                            added += 1 + t.width();
                            fields.insert(name, t);
                        }
                    }
                }
            }
            (a, b) => {
                let path = path();
                return Err(format!(
                    "column {} changed from {} to {}",
                    if path.is_empty() { "/" } else { &path },
                    a.kind(),
                    b.kind()
                ));
            }
        }
        Ok(added)
    }

    /// The Arrow type pyarrow reads.
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            JsonType::Null => DataType::Null,
            JsonType::Bool => DataType::Boolean,
            JsonType::Int => DataType::Int64,
            JsonType::Double => DataType::Float64,
            JsonType::Str { timestamp: true } => DataType::Timestamp(TimeUnit::Second, None),
            JsonType::Str { timestamp: false } => DataType::Utf8,
            JsonType::List(item) => DataType::List(Field::new("item", item.data_type(), true).into()),
            JsonType::Struct(fields) => DataType::Struct(Self::fields(fields)),
        }
    }

    pub(crate) fn fields(fields: &Keys) -> Fields {
        fields.iter().map(|(n, t)| Field::new(n, t.data_type(), true)).collect()
    }
}

/// One JSON value read only for its type (see [`JsonType`]).
pub(crate) struct Typed(pub JsonType);

impl<'de> de::Deserialize<'de> for Typed {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seed.deserialize(d).map(Typed)
    }
}

struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = JsonType;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JsonType, D::Error> {
        d.deserialize_any(TypeVisitor)
    }
}

struct TypeVisitor;

impl<'de> Visitor<'de> for TypeVisitor {
    type Value = JsonType;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<JsonType, E> {
        Ok(JsonType::Null)
    }

    fn visit_none<E>(self) -> Result<JsonType, E> {
        Ok(JsonType::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonType, E> {
        Ok(JsonType::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonType, E> {
        Ok(JsonType::Int)
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsonType, E> {
        Ok(if i64::try_from(v).is_ok() {
            JsonType::Int
        } else {
            JsonType::Double
        })
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonType, E> {
        Ok(JsonType::Double)
    }

    fn visit_str<E>(self, v: &str) -> Result<JsonType, E> {
        Ok(JsonType::Str {
            timestamp: crate::csv_types::is_timestamp_seconds(v.as_bytes()),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonType, A::Error> {
        let mut item = JsonType::Null;
        while let Some(t) = seq.next_element_seed(Seed)? {
            item.merge(t, "[]").map_err(de::Error::custom)?;
        }
        Ok(JsonType::List(Box::new(item)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonType, A::Error> {
        let mut fields = Keys::default();
        while let Some(name) = map.next_key::<String>()? {
            if fields.len() == MAX_JSON_KEYS {
                return Err(de::Error::custom(format!(
                    "an object has more than {MAX_JSON_KEYS} keys; at most {MAX_JSON_KEYS} columns are read"
                )));
            }
            let t = map.next_value_seed(Seed)?;
            match fields.entry(name) {
                Entry::Occupied(e) => {
                    return Err(de::Error::custom(format!(
                        "key {:?} appears twice in one object",
                        e.key()
                    )))
                }
                Entry::Vacant(slot) => {
                    slot.insert(t);
                }
            }
        }
        Ok(JsonType::Struct(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(lines: &[&str]) -> Result<String, String> {
        let mut t = JsonType::Struct(Keys::default());
        for l in lines {
            let Typed(r) = serde_json::from_str(l).map_err(|e| e.to_string())?;
            t.merge(r, "")?;
        }
        Ok(crate::arrow_type_name(&t.data_type()))
    }

    #[test]
    fn records_merge_as_pyarrow_merges_them() {
        let ok: &[(&[&str], &str)] = &[
            (&[r#"{"a":1}"#, r#"{"a":2.5}"#], "struct<a: double>"),
            (&[r#"{"a":1}"#, r#"{"a":1,"b":"x"}"#], "struct<a: int64, b: string>"),
            (&[r#"{"a":null}"#, r#"{"a":true}"#], "struct<a: bool>"),
            (&[r#"{"a":null}"#], "struct<a: null>"),
            (
                &[r#"{"a":"2020-01-01"}"#, r#"{"a":"2020-01-01T12:00:00+01:00"}"#],
                "struct<a: timestamp[s]>",
            ),
            (&[r#"{"a":"2020-01-01T12:00:00.5"}"#], "struct<a: string>"),
            (&[r#"{"a":"2020-01-01"}"#, r#"{"a":"x"}"#], "struct<a: string>"),
            (&[r#"{"a":[1,2]}"#, r#"{"a":[1.5]}"#], "struct<a: list<item: double>>"),
            (&[r#"{"a":[]}"#], "struct<a: list<item: null>>"),
            (
                &[r#"{"a":{"x":1}}"#, r#"{"a":null}"#, r#"{"a":{"y":"s"}}"#],
                "struct<a: struct<x: int64, y: string>>",
            ),
            (&[r#"{"a":9223372036854775808}"#], "struct<a: double>"),
            (&[r#"{"a":-9223372036854775808}"#], "struct<a: int64>"),
            (
                &[r#"{"b":1,"a":2}"#, r#"{"a":3,"c":4}"#],
                "struct<b: int64, a: int64, c: int64>",
            ),
        ];
        for (lines, want) in ok {
            assert_eq!(file(lines).as_deref(), Ok(*want), "{lines:?}");
        }
        let refused: &[(&[&str], &str)] = &[
            (
                &[r#"{"a":1}"#, r#"{"a":"x"}"#],
                "column /a changed from number to string",
            ),
            (
                &[r#"{"a":true}"#, r#"{"a":1}"#],
                "column /a changed from boolean to number",
            ),
            (
                &[r#"{"a":{"b":[1]}}"#, r#"{"a":{"b":["x"]}}"#],
                "column /a/b/[] changed from number to string",
            ),
        ];
        for (lines, want) in refused {
            assert_eq!(file(lines).unwrap_err(), *want, "{lines:?}");
        }
        assert!(file(&[r#"{"a":1,"a":2}"#]).unwrap_err().contains("appears twice"));
    }
}
