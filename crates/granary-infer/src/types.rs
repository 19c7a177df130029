//! Arrow type names as pyarrow prints them (`int64`, `string`, `list<item: double>`), the
//! spelling the official client writes into `data_schema`, so both agree on one dataset.

use arrow_schema::{DataType, Field, TimeUnit};

fn unit(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// A field's type as pyarrow prints it: [`arrow_type_name`], with a dictionary's
/// `ordered` flag, which arrow keeps on the field (`dictionary<…, ordered=1>` for an
/// ordered categorical, such as polars' `Enum`).
pub fn field_type_name(f: &Field) -> String {
    match (f.data_type(), f.dict_is_ordered()) {
        (DataType::Dictionary(k, v), Some(true)) => format!(
            "dictionary<values={}, indices={}, ordered=1>",
            arrow_type_name(v),
            arrow_type_name(k)
        ),
        (dt, _) => arrow_type_name(dt),
    }
}

/// A child field as Arrow C++'s `Field::ToString` prints it: `name: type`, and ` not null`
/// when it cannot hold nulls.
fn field_str(f: &Field) -> String {
    let not_null = if f.is_nullable() { "" } else { " not null" };
    format!("{}: {}{not_null}", f.name(), field_type_name(f))
}

/// A type as pyarrow prints it (`str(pyarrow_type)`).
pub fn arrow_type_name(dt: &DataType) -> String {
    use DataType::*;
    match dt {
        Null => "null".into(),
        Boolean => "bool".into(),
        Int8 => "int8".into(),
        Int16 => "int16".into(),
        Int32 => "int32".into(),
        Int64 => "int64".into(),
        UInt8 => "uint8".into(),
        UInt16 => "uint16".into(),
        UInt32 => "uint32".into(),
        UInt64 => "uint64".into(),
        Float16 => "halffloat".into(),
        Float32 => "float".into(),
        Float64 => "double".into(),
        Utf8 => "string".into(),
        LargeUtf8 => "large_string".into(),
        Utf8View => "string_view".into(),
        Binary => "binary".into(),
        LargeBinary => "large_binary".into(),
        BinaryView => "binary_view".into(),
        FixedSizeBinary(n) => format!("fixed_size_binary[{n}]"),
        Date32 => "date32[day]".into(),
        Date64 => "date64[ms]".into(),
        Timestamp(u, None) => format!("timestamp[{}]", unit(u)),
        Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit(u)),
        Time32(u) => format!("time32[{}]", unit(u)),
        Time64(u) => format!("time64[{}]", unit(u)),
        Duration(u) => format!("duration[{}]", unit(u)),
        Decimal32(p, s) => format!("decimal32({p}, {s})"),
        Decimal64(p, s) => format!("decimal64({p}, {s})"),
        Decimal128(p, s) => format!("decimal128({p}, {s})"),
        Decimal256(p, s) => format!("decimal256({p}, {s})"),
        List(f) => format!("list<{}>", field_str(f)),
        LargeList(f) => format!("large_list<{}>", field_str(f)),
        ListView(f) => format!("list_view<{}>", field_str(f)),
        LargeListView(f) => format!("large_list_view<{}>", field_str(f)),
        FixedSizeList(f, n) => format!("fixed_size_list<{}>[{n}]", field_str(f)),
        Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| field_str(f)).collect();
            format!("struct<{}>", inner.join(", "))
        }
        Union(fields, mode) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(code, f)| format!("{}={code}", field_str(f)))
                .collect();
            let mode = match mode {
                arrow_schema::UnionMode::Sparse => "sparse",
                arrow_schema::UnionMode::Dense => "dense",
            };
            format!("{mode}_union<{}>", inner.join(", "))
        }
        RunEndEncoded(ends, values) => format!(
            "run_end_encoded<run_ends: {}, values: {}>",
            arrow_type_name(ends.data_type()),
            arrow_type_name(values.data_type())
        ),
        Interval(arrow_schema::IntervalUnit::YearMonth) => "month_interval".into(),
        Interval(arrow_schema::IntervalUnit::DayTime) => "day_time_interval".into(),
        Interval(arrow_schema::IntervalUnit::MonthDayNano) => "month_day_nano_interval".into(),
        // As Arrow C++'s MapType::ToString: field names other than the standard ones follow
        // their type in parentheses.
        Map(entries, sorted) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => {
                let named = |f: &arrow_schema::Field, std: &str| {
                    if f.name() == std {
                        String::new()
                    } else {
                        format!(" ('{}')", f.name())
                    }
                };
                format!(
                    "map<{}{}, {}{}{}{}>",
                    field_type_name(&kv[0]),
                    named(&kv[0], "key"),
                    field_type_name(&kv[1]),
                    named(&kv[1], "value"),
                    if *sorted { ", keys_sorted" } else { "" },
                    named(entries, "entries"),
                )
            }
            other => format!("map<{}>", arrow_type_name(other)),
        },
        Dictionary(k, v) => format!(
            "dictionary<values={}, indices={}, ordered=0>",
            arrow_type_name(v),
            arrow_type_name(k)
        ),
    }
}
