//! Arrow values as JSON, exactly: what a preview shows for each cell. JSON numbers are
//! doubles to most readers (browsers, `JSON.parse`), so every value that a double cannot hold
//! exactly is a string, and every temporal value is ISO 8601 text with its unit's precision
//! and its zone. The representation, type by type (also in docs/API.md, "Preview values"):
//!
//! | Arrow type | JSON |
//! |---|---|
//! | null, or a null value | `null` |
//! | bool | `true` / `false` |
//! | int8–int32, uint8–uint32 | number |
//! | int64, uint64 | number within ±(2^53 − 1), else a string of its digits |
//! | float16/32/64 | number, the shortest text that reads back to the same float32 (float16, float32) or float64 (`0.1f32` is `0.1`); `"NaN"`, `"Infinity"`, `"-Infinity"` as strings |
//! | decimal32/64/128/256(p, s) | string with exactly `s` fraction digits (`"0.10"`); a negative scale adds zeros |
//! | date32, date64 | `"YYYY-MM-DD"` |
//! | time32/64 | `"HH:MM:SS"` plus 3, 6 or 9 fraction digits for ms, us, ns |
//! | timestamp | `"YYYY-MM-DDTHH:MM:SS"` plus the unit's fraction digits; with a zone, the wall time in that zone and its offset (`-05:00`); without, no offset |
//! | duration | ISO 8601 `"PT<seconds>S"` with the unit's fraction digits, `-` before negatives |
//! | interval | `{"months"}`, `{"days", "milliseconds"}` or `{"months", "days", "nanoseconds"}` |
//! | string, large_string, string_view | string |
//! | binary, large_binary, binary_view, fixed_size_binary | lowercase hex string |
//! | list, large_list, list_view, large_list_view, fixed_size_list | array |
//! | struct | object, fields in order |
//! | map | array of `{"key", "value"}` objects, in order (keys may repeat or be any type) |
//! | dictionary, run_end_encoded | the value it stands for |
//! | union (sparse, dense) | the value of the member it holds |

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

/// The largest integer a double holds exactly, with every integer below it (2^53 − 1).
pub const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// Row `i` of `array` as JSON, by the table in this module's documentation.
pub fn cell(array: &dyn Array, i: usize) -> Value {
    // Dictionaries, unions and run-end encoded arrays keep nulls in their values.
    if !matches!(
        array.data_type(),
        DataType::Union(..) | DataType::RunEndEncoded(..) | DataType::Dictionary(..)
    ) && array.is_null(i)
    {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => json!(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => json!(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(i)),
        DataType::UInt8 => json!(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => json!(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => json!(array.as_primitive::<UInt32Type>().value(i)),
        DataType::Int64 => integer(array.as_primitive::<Int64Type>().value(i) as i128),
        DataType::UInt64 => integer(array.as_primitive::<UInt64Type>().value(i) as i128),
        DataType::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f32()),
        DataType::Float32 => float(array.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => double(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal32(_, s) => decimal(array.as_primitive::<Decimal32Type>().value(i).to_string(), *s),
        DataType::Decimal64(_, s) => decimal(array.as_primitive::<Decimal64Type>().value(i).to_string(), *s),
        DataType::Decimal128(_, s) => decimal(array.as_primitive::<Decimal128Type>().value(i).to_string(), *s),
        DataType::Decimal256(_, s) => decimal(array.as_primitive::<Decimal256Type>().value(i).to_string(), *s),
        DataType::Date32 => date(array.as_primitive::<Date32Type>().value(i) as i64 * 86_400_000),
        DataType::Date64 => date(array.as_primitive::<Date64Type>().value(i)),
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(i),
                _ => array.as_primitive::<Time32MillisecondType>().value(i),
            };
            time(v as i64, unit)
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(i),
                _ => array.as_primitive::<Time64NanosecondType>().value(i),
            };
            time(v, unit)
        }
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            timestamp(v, unit, tz.as_deref())
        }
        DataType::Duration(unit) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<DurationSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(i),
            };
            duration(v, unit)
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            json!({"months": array.as_primitive::<IntervalYearMonthType>().value(i)})
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = array.as_primitive::<IntervalDayTimeType>().value(i);
            json!({"days": v.days, "milliseconds": v.milliseconds})
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(i);
            json!({"months": v.months, "days": v.days, "nanoseconds": integer(v.nanoseconds as i128)})
        }
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        DataType::Binary => hex(array.as_binary::<i32>().value(i)),
        DataType::LargeBinary => hex(array.as_binary::<i64>().value(i)),
        DataType::BinaryView => hex(array.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => hex(array.as_fixed_size_binary().value(i)),
        DataType::List(_) => items(array.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => items(array.as_list::<i64>().value(i).as_ref()),
        DataType::ListView(_) => items(array.as_list_view::<i32>().value(i).as_ref()),
        DataType::LargeListView(_) => items(array.as_list_view::<i64>().value(i).as_ref()),
        DataType::FixedSizeList(..) => items(array.as_fixed_size_list().value(i).as_ref()),
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut out = Map::new();
            for (f, column) in fields.iter().zip(s.columns()) {
                out.insert(f.name().clone(), cell(column.as_ref(), i));
            }
            Value::Object(out)
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            Value::Array(
                (0..entries.len())
                    .map(|j| json!({"key": cell(keys.as_ref(), j), "value": cell(values.as_ref(), j)}))
                    .collect(),
            )
        }
        DataType::Dictionary(..) => {
            let d = array.as_any_dictionary();
            if d.keys().is_null(i) {
                return Value::Null;
            }
            match key_at(d.keys(), i) {
                Some(k) if k < d.values().len() => cell(d.values().as_ref(), k),
                _ => Value::Null,
            }
        }
        DataType::Union(..) => {
            let u = array.as_union();
            cell(u.child(u.type_id(i)).as_ref(), u.value_offset(i))
        }
        DataType::RunEndEncoded(ends, _) => match ends.data_type() {
            DataType::Int16 => run_value(array.as_run::<Int16Type>(), i),
            DataType::Int32 => run_value(array.as_run::<Int32Type>(), i),
            _ => run_value(array.as_run::<Int64Type>(), i),
        },
    }
}

fn run_value<R: RunEndIndexType>(run: &arrow_array::RunArray<R>, i: usize) -> Value {
    let physical = run.get_physical_index(i);
    cell(run.values().as_ref(), physical)
}

fn key_at(keys: &dyn Array, i: usize) -> Option<usize> {
    fn at<T: ArrowPrimitiveType>(keys: &dyn Array, i: usize) -> Option<usize>
    where
        T::Native: TryInto<usize>,
    {
        keys.as_primitive::<T>().value(i).try_into().ok()
    }
    match keys.data_type() {
        DataType::Int8 => at::<Int8Type>(keys, i),
        DataType::Int16 => at::<Int16Type>(keys, i),
        DataType::Int32 => at::<Int32Type>(keys, i),
        DataType::Int64 => at::<Int64Type>(keys, i),
        DataType::UInt8 => at::<UInt8Type>(keys, i),
        DataType::UInt16 => at::<UInt16Type>(keys, i),
        DataType::UInt32 => at::<UInt32Type>(keys, i),
        DataType::UInt64 => at::<UInt64Type>(keys, i),
        _ => None,
    }
}

fn items(values: &dyn Array) -> Value {
    Value::Array((0..values.len()).map(|j| cell(values, j)).collect())
}

/// An integer: a number when a double holds it exactly, else its digits as a string.
pub fn integer(v: i128) -> Value {
    if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
        json!(v as i64)
    } else {
        Value::String(v.to_string())
    }
}

/// A float32 (or float16) by its own shortest text: `0.1f32` is `0.1`, not
/// `0.10000000149011612`.
fn float(v: f32) -> Value {
    if !v.is_finite() {
        return non_finite(v as f64);
    }
    v.to_string().parse::<f64>().map(double).unwrap_or(Value::Null)
}

/// A float64 as JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn double(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or_else(|| non_finite(v), Value::Number)
}

fn non_finite(v: f64) -> Value {
    Value::String(
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_string(),
    )
}

/// The decimal whose unscaled integer has the digits `digits` (with a leading `-` when
/// negative), at `scale`.
fn decimal(digits: String, scale: i8) -> Value {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d.to_string()),
        None => ("", digits),
    };
    if scale <= 0 {
        let zeros = "0".repeat(scale.unsigned_abs() as usize);
        let text = if digits == "0" {
            digits
        } else {
            format!("{digits}{zeros}")
        };
        return Value::String(format!("{sign}{text}"));
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = padded.split_at(padded.len() - scale);
    Value::String(format!("{sign}{whole}.{frac}"))
}

/// (whole seconds, nanoseconds) of a count of `unit`s, floored.
fn split(v: i64, unit: &TimeUnit) -> (i64, u32) {
    let per = per_second(unit);
    (v.div_euclid(per), (v.rem_euclid(per) * (1_000_000_000 / per)) as u32)
}

fn per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// `.fff`, `.ffffff` or `.fffffffff` for the unit; nothing for seconds.
fn fraction(nanos: u32, unit: &TimeUnit) -> String {
    match unit {
        TimeUnit::Second => String::new(),
        TimeUnit::Millisecond => format!(".{:03}", nanos / 1_000_000),
        TimeUnit::Microsecond => format!(".{:06}", nanos / 1_000),
        TimeUnit::Nanosecond => format!(".{nanos:09}"),
    }
}

fn date(ms: i64) -> Value {
    let secs = ms.div_euclid(1000);
    match DateTime::<Utc>::from_timestamp(secs, 0) {
        Some(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        None => Value::String(ms.to_string()),
    }
}

fn time(v: i64, unit: &TimeUnit) -> Value {
    let (secs, nanos) = split(v, unit);
    Value::String(format!(
        "{:02}:{:02}:{:02}{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        fraction(nanos, unit)
    ))
}

fn timestamp(v: i64, unit: &TimeUnit, tz: Option<&str>) -> Value {
    let (secs, nanos) = split(v, unit);
    let Some(utc) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
        return Value::String(v.to_string());
    };
    let frac = fraction(nanos, unit);
    let Some(tz) = tz else {
        return Value::String(format!("{}{frac}", utc.format("%Y-%m-%dT%H:%M:%S")));
    };
    match tz.parse::<arrow_array::timezone::Tz>() {
        Ok(zone) => {
            let local = zone.from_utc_datetime(&utc.naive_utc());
            Value::String(format!(
                "{}{frac}{}",
                local.format("%Y-%m-%dT%H:%M:%S"),
                local.format("%:z")
            ))
        }
        // A zone this build does not know: the instant in UTC, said so by its offset.
        Err(_) => Value::String(format!("{}{frac}+00:00", utc.format("%Y-%m-%dT%H:%M:%S"))),
    }
}

fn duration(v: i64, unit: &TimeUnit) -> Value {
    let per = per_second(unit) as i128;
    let v = v as i128;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.abs();
    let nanos = ((a % per) * (1_000_000_000 / per)) as u32;
    Value::String(format!("{sign}PT{}{}S", a / per, fraction(nanos, unit)))
}

fn hex(bytes: &[u8]) -> Value {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    Value::String(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::*;
    use std::sync::Arc;

    fn first(a: ArrayRef) -> Value {
        cell(a.as_ref(), 0)
    }

    #[test]
    fn values_are_exact() {
        let dec = Decimal128Array::from(vec![1234567890123456789012i128, 10, -5, 0])
            .with_precision_and_scale(22, 2)
            .unwrap();
        let got: Vec<Value> = (0..4).map(|i| cell(&dec, i)).collect();
        assert_eq!(
            got,
            [
                json!("12345678901234567890.12"),
                json!("0.10"),
                json!("-0.05"),
                json!("0.00")
            ]
        );
        assert_eq!(decimal("123".into(), -3), json!("123000"));
        assert_eq!(decimal("0".into(), -3), json!("0"));
        assert_eq!(
            first(Arc::new(Int64Array::from(vec![1i64 << 53]))),
            json!("9007199254740992")
        );
        assert_eq!(
            first(Arc::new(Int64Array::from(vec![-(1i64 << 53) + 1]))),
            json!(-9007199254740991i64)
        );
        assert_eq!(
            first(Arc::new(UInt64Array::from(vec![u64::MAX]))),
            json!("18446744073709551615")
        );
        assert_eq!(first(Arc::new(Float32Array::from(vec![0.1f32]))), json!(0.1));
        assert_eq!(first(Arc::new(Float64Array::from(vec![f64::NAN]))), json!("NaN"));
        assert_eq!(
            first(Arc::new(Float64Array::from(vec![f64::NEG_INFINITY]))),
            json!("-Infinity")
        );
        let ts = TimestampMicrosecondArray::from(vec![1_700_000_000_123_456]).with_timezone("America/New_York");
        assert_eq!(cell(&ts, 0), json!("2023-11-14T17:13:20.123456-05:00"));
        let ts = TimestampNanosecondArray::from(vec![-1]).with_timezone("+05:30");
        assert_eq!(cell(&ts, 0), json!("1970-01-01T05:29:59.999999999+05:30"));
        let ts = TimestampSecondArray::from(vec![0]);
        assert_eq!(cell(&ts, 0), json!("1970-01-01T00:00:00"));
        assert_eq!(first(Arc::new(Date32Array::from(vec![-1]))), json!("1969-12-31"));
        assert_eq!(
            first(Arc::new(Time64NanosecondArray::from(vec![3_723_000_000_001]))),
            json!("01:02:03.000000001")
        );
        assert_eq!(
            first(Arc::new(DurationMillisecondArray::from(vec![-1500]))),
            json!("-PT1.500S")
        );
        assert_eq!(
            first(Arc::new(DurationSecondArray::from(vec![i64::MIN]))),
            json!("-PT9223372036854775808S")
        );
        assert_eq!(
            first(Arc::new(BinaryArray::from(vec![&b"\x00\xff"[..]]))),
            json!("00ff")
        );
        let dict: DictionaryArray<Int8Type> = vec!["a", "b", "a"].into_iter().collect();
        assert_eq!(
            (0..3).map(|i| cell(&dict, i)).collect::<Vec<_>>(),
            [json!("a"), json!("b"), json!("a")]
        );
    }
}
