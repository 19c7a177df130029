//! Cells as typed keys, for `orderby` and for `IN`: values compare as their type compares
//! them, never as their JSON text (an int64 past 2^53, shown as a string, still orders as
//! a number; a timestamp orders by its instant).
//!
//! Order (`orderby`), as pyarrow's `sort_indices` with nulls at the end: numbers by value
//! (`-0.0` ties with `0.0`), text and binary by bytes (for UTF-8, by code point), `false`
//! before `true`, dates, times, timestamps and durations by instant; then NaN; then null.
//! Descending reverses the values only: NaN and null stay last.
//!
//! Equality (`IN`): as `=` compares, IEEE for floats: NaN equals nothing and `-0.0`
//! equals `0.0`.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// One cell as a key. Temporal values are nanoseconds from the Unix epoch (dates at
/// midnight UTC, times from midnight), so a date orders with a timestamp.
#[derive(Clone, Debug)]
pub(crate) enum Key {
    Int(i128),
    /// A decimal's unscaled value and its scale.
    Decimal(i128, i8),
    /// Never NaN (see [`Key::NaN`]).
    Float(f64),
    Bytes(Vec<u8>),
    Bool(bool),
    /// Lists, structs, maps and the other nested types, by their JSON text.
    Text(String),
    NaN,
    Null,
}

/// Nanoseconds in one `unit`.
fn per(unit: &TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

fn float(v: f64) -> Key {
    if v.is_nan() {
        Key::NaN
    } else {
        Key::Float(v)
    }
}

/// Row `i` of `a` as a key; text and binary keep their first `limit` bytes.
pub(crate) fn key_of(a: &dyn Array, i: usize, limit: usize) -> Key {
    if a.is_null(i) && !matches!(a.data_type(), DataType::Union(..) | DataType::RunEndEncoded(..)) {
        return Key::Null;
    }
    let bytes = |b: &[u8]| Key::Bytes(b[..b.len().min(limit)].to_vec());
    match a.data_type() {
        DataType::Boolean => Key::Bool(a.as_boolean().value(i)),
        DataType::Int8 => Key::Int(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Key::Int(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Key::Int(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Key::Int(a.as_primitive::<Int64Type>().value(i).into()),
        DataType::UInt8 => Key::Int(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Key::Int(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Key::Int(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => Key::Int(a.as_primitive::<UInt64Type>().value(i).into()),
        DataType::Float16 => float(a.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => float(a.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal32(_, s) => Key::Decimal(a.as_primitive::<Decimal32Type>().value(i).into(), *s),
        DataType::Decimal64(_, s) => Key::Decimal(a.as_primitive::<Decimal64Type>().value(i).into(), *s),
        DataType::Decimal128(_, s) => Key::Decimal(a.as_primitive::<Decimal128Type>().value(i), *s),
        DataType::Decimal256(_, s) => {
            let v = a.as_primitive::<Decimal256Type>().value(i);
            match v.to_i128() {
                Some(v) => Key::Decimal(v, *s),
                None => float(v.to_string().parse::<f64>().unwrap_or(f64::NAN) / 10f64.powi(i32::from(*s))),
            }
        }
        DataType::Date32 => Key::Int(i128::from(a.as_primitive::<Date32Type>().value(i)) * 86_400 * 1_000_000_000),
        DataType::Date64 => Key::Int(i128::from(a.as_primitive::<Date64Type>().value(i)) * 1_000_000),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
            };
            Key::Int(i128::from(v) * per(unit))
        }
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<Time32SecondType>().value(i),
                _ => a.as_primitive::<Time32MillisecondType>().value(i),
            };
            Key::Int(i128::from(v) * per(unit))
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => a.as_primitive::<Time64MicrosecondType>().value(i),
                _ => a.as_primitive::<Time64NanosecondType>().value(i),
            };
            Key::Int(i128::from(v) * per(unit))
        }
        DataType::Duration(unit) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<DurationSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<DurationMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<DurationMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<DurationNanosecondType>().value(i),
            };
            Key::Int(i128::from(v) * per(unit))
        }
        DataType::Utf8 => bytes(a.as_string::<i32>().value(i).as_bytes()),
        DataType::LargeUtf8 => bytes(a.as_string::<i64>().value(i).as_bytes()),
        DataType::Utf8View => bytes(a.as_string_view().value(i).as_bytes()),
        DataType::Binary => bytes(a.as_binary::<i32>().value(i)),
        DataType::LargeBinary => bytes(a.as_binary::<i64>().value(i)),
        DataType::BinaryView => bytes(a.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => bytes(a.as_fixed_size_binary().value(i)),
        DataType::Dictionary(..) => {
            let d = a.as_any_dictionary();
            match arrow_cast::cast(&d.keys().slice(i, 1), &DataType::UInt64)
                .ok()
                .and_then(|k| usize::try_from(k.as_primitive::<UInt64Type>().value(0)).ok())
            {
                Some(k) if k < d.values().len() => key_of(d.values().as_ref(), k, limit),
                _ => Key::Null,
            }
        }
        _ => match crate::values::cell(a, i) {
            serde_json::Value::Null => Key::Null,
            v => Key::Text(v.to_string()),
        },
    }
}

impl Key {
    /// 0 for a value, 1 for NaN, 2 for null: NaN and null sort last either way.
    fn tier(&self) -> u8 {
        match self {
            Key::NaN => 1,
            Key::Null => 2,
            _ => 0,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Key::Int(v) => Some(*v as f64),
            Key::Decimal(v, s) => Some(*v as f64 / 10f64.powi(i32::from(*s))),
            Key::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// Orders two values of one column (both of tier 0).
    fn value_cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Decimal(a, s), Key::Decimal(b, t)) if s == t => a.cmp(b),
            (Key::Bytes(a), Key::Bytes(b)) => a.cmp(b),
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                // Values of different kinds (a column typed differently between files):
                // by kind, so the order is still total.
                _ => a.kind().cmp(&b.kind()),
            },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Key::Int(_) | Key::Decimal(..) | Key::Float(_) => 0,
            Key::Bytes(_) => 1,
            Key::Bool(_) => 2,
            Key::Text(_) => 3,
            Key::NaN => 4,
            Key::Null => 5,
        }
    }

    /// The sort order of `orderby`: values ascending (or descending), then NaN, then null.
    pub(crate) fn order(&self, other: &Key, desc: bool) -> Ordering {
        match (self.tier(), other.tier()) {
            (0, 0) if desc => other.value_cmp(self),
            (0, 0) => self.value_cmp(other),
            (a, b) => a.cmp(&b),
        }
    }

    /// `self op other` for a comparison: `None` when either is null; IEEE for floats (any
    /// comparison with NaN is false, but `!=` is true).
    pub(crate) fn compare(&self, op: super::Op, other: &Key) -> Option<bool> {
        use super::Op;
        if matches!(self, Key::Null) || matches!(other, Key::Null) {
            return None;
        }
        if matches!(self, Key::NaN) || matches!(other, Key::NaN) {
            return Some(op == Op::Ne);
        }
        let o = self.value_cmp(other);
        Some(match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        })
    }
}

/// Equality for `IN`'s set, between keys of one kind (the set and the column it is looked
/// up with are of one type): NaN and null equal nothing.
impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a == b,
            (Key::Decimal(a, s), Key::Decimal(b, t)) => a == b && s == t,
            (Key::Float(a), Key::Float(b)) => a == b,
            (Key::Bytes(a), Key::Bytes(b)) => a == b,
            (Key::Bool(a), Key::Bool(b)) => a == b,
            (Key::Text(a), Key::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Key::Int(v) => v.hash(h),
            Key::Decimal(v, s) => (v, s).hash(h),
            // `-0.0 + 0.0` is `0.0`: both zeros hash alike, as they are equal.
            Key::Float(v) => (v + 0.0).to_bits().hash(h),
            Key::Bytes(b) => b.hash(h),
            Key::Bool(b) => b.hash(h),
            Key::Text(t) => t.hash(h),
            Key::NaN | Key::Null => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn keys(a: ArrayRef) -> Vec<Key> {
        (0..a.len()).map(|i| key_of(a.as_ref(), i, 1024)).collect()
    }

    fn sorted(a: ArrayRef, desc: bool) -> Vec<usize> {
        let k = keys(a);
        let mut idx: Vec<usize> = (0..k.len()).collect();
        idx.sort_by(|&x, &y| k[x].order(&k[y], desc).then(x.cmp(&y)));
        idx
    }

    /// The same orders pyarrow's `sort_indices` gives (null_placement at_end), computed
    /// there for `[1.0, nan, -0.0, None, 0.0, inf, -inf, 2.0]`.
    #[test]
    fn floats_order_as_pyarrow_sorts_them() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(f64::NAN),
            Some(-0.0),
            None,
            Some(0.0),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(2.0),
        ]));
        assert_eq!(sorted(a.clone(), false), [6, 2, 4, 0, 7, 5, 1, 3]);
        assert_eq!(sorted(a, true), [5, 7, 0, 2, 4, 6, 1, 3]);
    }

    #[test]
    fn big_integers_and_text_order_by_value() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 9_007_199_254_740_993, -5, 10]));
        assert_eq!(sorted(a, false), [2, 3, 1, 0]);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["b", "é", "B", "a"]));
        assert_eq!(sorted(s, false), [2, 3, 0, 1]);
    }

    #[test]
    fn comparisons_follow_ieee() {
        use super::super::Op;
        let (z, nz, nan) = (Key::Float(0.0), Key::Float(-0.0), Key::NaN);
        assert_eq!(nz.compare(Op::Eq, &z), Some(true));
        assert_eq!(nan.compare(Op::Eq, &nan), Some(false));
        assert_eq!(nan.compare(Op::Ne, &z), Some(true));
        assert_eq!(nan.compare(Op::Gt, &z), Some(false));
        assert_eq!(Key::Null.compare(Op::Ne, &z), None);
        let set: std::collections::HashSet<Key> = [Key::Float(0.0)].into_iter().collect();
        assert!(set.contains(&Key::Float(-0.0)));
        assert!(!set.contains(&Key::NaN));
    }
}
