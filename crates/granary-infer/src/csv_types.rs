//! Whole-file csv type inference with pyarrow's rules (`pyarrow.csv.read_csv` with default
//! options), in the same streaming pass that counts rows.
//!
//! pyarrow gives a column the first type, in the order of [`KINDS`], that every one of its
//! non-null values converts to (it re-reads earlier values when a later one forces a wider
//! type). Here each value narrows the set of types the column can still have — a bitmask —
//! so the answer is the same while memory stays one mask per column, whatever the file's
//! size. The value rules were taken from pyarrow 26 and are checked against it by the
//! differential test `tests/pyarrow_csv.rs`:
//!
//! - null tokens (exact, case-sensitive): the empty value, `#N/A`, `#N/A N/A`, `#NA`,
//!   `-1.#IND`, `-1.#QNAN`, `-NaN`, `-nan`, `1.#IND`, `1.#QNAN`, `N/A`, `NA`, `NULL`,
//!   `NaN`, `n/a`, `nan`, `null`; a column of nothing else is `null`;
//! - `int64`: optional `-`, decimal digits within the int64 range, or `0x`/`0X` and 1–16
//!   hex digits (two's complement); spaces and tabs around the value are ignored;
//! - `bool`: `true`, `True`, `TRUE`, `1`, `false`, `False`, `FALSE`, `0`, exactly;
//! - `date32[day]`: `YYYY-MM-DD` (a valid calendar date, four-digit year);
//! - `time32[s]`: `HH:MM` or `HH:MM:SS`;
//! - `timestamp[s]`: a date, or a date, `T` or a space, and `HH`, `HH:MM` or `HH:MM:SS`;
//!   `timestamp[ns]` also allows a fraction of 1–9 digits after the seconds;
//! - `timestamp[s, tz=UTC]` / `timestamp[ns, tz=UTC]`: the same with a time, followed by
//!   `Z`, `±HH`, `±HHMM` or `±HH:MM` (hours below 24);
//! - `double`: optional sign, digits with an optional `.` (at least one digit in all),
//!   optional exponent; `inf`, `infinity`, `nan` in any case with an optional sign;
//!   spaces and tabs around the value are ignored;
//! - `string` for any valid UTF-8, `binary` otherwise.

use arrow_schema::{DataType, TimeUnit};

const INT: u16 = 1 << 0;
const BOOL: u16 = 1 << 1;
const DATE: u16 = 1 << 2;
const TIME: u16 = 1 << 3;
const TS_S: u16 = 1 << 4;
const TS_NS: u16 = 1 << 5;
const TSZ_S: u16 = 1 << 6;
const TSZ_NS: u16 = 1 << 7;
const DOUBLE: u16 = 1 << 8;
const STRING: u16 = 1 << 9;
const BINARY: u16 = 1 << 10;
const ALL: u16 = (1 << 11) - 1;
const TEMPORAL: u16 = DATE | TIME | TS_S | TS_NS | TSZ_S | TSZ_NS;

/// The types pyarrow tries, in its order.
const KINDS: [u16; 11] = [
    INT, BOOL, DATE, TIME, TS_S, TS_NS, TSZ_S, TSZ_NS, DOUBLE, STRING, BINARY,
];

/// Values longer than this are read as text. pyarrow reads a csv in 1 MiB blocks and
/// refuses a value longer than a block, so no longer value can be a number for it either.
pub(crate) const MAX_TYPED_VALUE: usize = 1 << 20;

pub(crate) const NULL_TOKENS: [&[u8]; 17] = [
    b"",
    b"#N/A",
    b"#N/A N/A",
    b"#NA",
    b"-1.#IND",
    b"-1.#QNAN",
    b"-NaN",
    b"-nan",
    b"1.#IND",
    b"1.#QNAN",
    b"N/A",
    b"NA",
    b"NULL",
    b"NaN",
    b"n/a",
    b"nan",
    b"null",
];

/// One column's state: the types it may still have, and whether any value was not null.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColumnTypes {
    possible: u16,
    seen_value: bool,
}

impl Default for ColumnTypes {
    fn default() -> Self {
        ColumnTypes {
            possible: ALL,
            seen_value: false,
        }
    }
}

impl ColumnTypes {
    /// Narrows the column by one value: `head` is its first bytes (all of it unless
    /// `truncated`), `utf8` whether the whole value is valid UTF-8.
    pub(crate) fn add(&mut self, head: &[u8], truncated: bool, utf8: bool) {
        if !truncated && NULL_TOKENS.contains(&head) {
            return;
        }
        self.seen_value = true;
        let text = if utf8 { STRING | BINARY } else { BINARY };
        if truncated || self.possible & !(STRING | BINARY) == 0 {
            self.possible &= text;
            return;
        }
        self.possible &= accepts(head, self.possible) | text;
    }

    /// Narrows a column that can only be text any more (see [`Self::typed`]) by one value
    /// whose bytes were not kept: invalid UTF-8 makes it binary.
    pub(crate) fn add_text(&mut self, utf8: bool) {
        if !utf8 {
            self.possible &= BINARY;
        }
    }

    /// Whether the column may still be something other than text: only then are a value's
    /// bytes worth keeping.
    pub(crate) fn typed(&self) -> bool {
        self.possible & !(STRING | BINARY) != 0
    }

    /// The column's type, as pyarrow would read it.
    pub(crate) fn data_type(&self) -> DataType {
        if !self.seen_value {
            return DataType::Null;
        }
        let first = KINDS
            .iter()
            .find(|k| self.possible & **k != 0)
            .copied()
            .unwrap_or(BINARY);
        match first {
            INT => DataType::Int64,
            BOOL => DataType::Boolean,
            DATE => DataType::Date32,
            TIME => DataType::Time32(TimeUnit::Second),
            TS_S => DataType::Timestamp(TimeUnit::Second, None),
            TS_NS => DataType::Timestamp(TimeUnit::Nanosecond, None),
            TSZ_S => DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            TSZ_NS => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            DOUBLE => DataType::Float64,
            STRING => DataType::Utf8,
            _ => DataType::Binary,
        }
    }
}

/// The non-text types among `wanted` that `v` converts to.
fn accepts(v: &[u8], wanted: u16) -> u16 {
    let mut m = 0;
    if wanted & BOOL != 0 && is_bool(v) {
        m |= BOOL;
    }
    let t = trim(v);
    if wanted & INT != 0 && is_int64(t) {
        m |= INT;
    }
    if wanted & DOUBLE != 0 && is_double(t) {
        m |= DOUBLE;
    }
    if wanted & TEMPORAL != 0 {
        // pyarrow trims dates and times, not timestamps.
        m |= temporal(t) & (DATE | TIME) & wanted;
        m |= temporal(v) & (TS_S | TS_NS | TSZ_S | TSZ_NS) & wanted;
    }
    m
}

/// One csv cell as a preview shows it, given its column's published type (`None`: not
/// known, shown as text): in a typed column, the value its parquet rendition holds, shown
/// alike (pyarrow's null tokens are null; numbers, booleans, dates and times by the rules
/// that typed the column; binary as hex), or the text when the cell is not of the type. A
/// `string` column keeps every cell as written (pyarrow does not read null tokens in
/// string columns).
pub(crate) fn preview_cell(v: &[u8], kind: Option<&DataType>) -> serde_json::Value {
    use serde_json::Value;
    let text = || Value::String(String::from_utf8_lossy(v).into_owned());
    match kind {
        None | Some(DataType::Utf8) => text(),
        Some(t) => crate::rendition::typed_cell(v, t).unwrap_or_else(text),
    }
}

pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

fn is_bool(v: &[u8]) -> bool {
    matches!(
        v,
        b"true" | b"True" | b"TRUE" | b"1" | b"false" | b"False" | b"FALSE" | b"0"
    )
}

fn is_int64(v: &[u8]) -> bool {
    if let Some(hex) = v.strip_prefix(b"0x").or_else(|| v.strip_prefix(b"0X")) {
        return !hex.is_empty() && hex.len() <= 16 && hex.iter().all(u8::is_ascii_hexdigit);
    }
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Within the range: parse (the text is ASCII digits with an optional minus).
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .is_some()
}

fn is_double(v: &[u8]) -> bool {
    let body = match v.first() {
        Some(b'+') | Some(b'-') => &v[1..],
        _ => v,
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") || body.eq_ignore_ascii_case(b"nan")
    {
        return true;
    }
    let mut i = 0;
    let int_digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if body.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = body[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(body.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(body.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        let exp = body[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == body.len()
}

/// `n` ASCII digits at the start of `v`, as a number.
fn digits(v: &[u8], n: usize) -> Option<u32> {
    if v.len() < n || !v[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v[..n].iter().fold(0, |a, b| a * 10 + u32::from(b - b'0')))
}

fn is_date(v: &[u8]) -> bool {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(v, 4), digits(&v[5..], 2), digits(&v[8..], 2)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `HH`, `HH:MM` or `HH:MM:SS` (with `hours_only` allowed or not); the length read.
fn clock(v: &[u8], hours_only: bool) -> Option<usize> {
    let h = digits(v, 2)?;
    if h > 23 {
        return None;
    }
    if v.get(2) != Some(&b':') {
        return hours_only.then_some(2);
    }
    let m = digits(&v[3..], 2)?;
    if m > 59 {
        return None;
    }
    if v.get(5) != Some(&b':') {
        return Some(5);
    }
    let s = digits(&v[6..], 2)?;
    (s <= 59).then_some(8)
}

/// A date, time or timestamp value as pyarrow reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Temporal {
    /// `HH:MM[:SS]`: seconds since midnight.
    Time(i64),
    /// `YYYY-MM-DD`: days since 1970-01-01.
    Date(i64),
    /// A date and a clock: whole seconds since 1970-01-01 in UTC (the zone's offset
    /// applied), the fraction's nanoseconds if it has one, and whether it named a zone.
    Stamp { secs: i64, nanos: Option<i64>, zoned: bool },
}

/// Reads `v` as a time, a date or a timestamp by pyarrow's rules (see the module's list);
/// `None` when it is none of them.
pub(crate) fn parse_temporal(v: &[u8]) -> Option<Temporal> {
    if let Some(n) = clock(v, false) {
        if n != v.len() {
            return None;
        }
        let field = |at: usize| digits(&v[at.min(v.len())..], 2).map_or(0, i64::from);
        return Some(Temporal::Time(
            field(0) * 3600 + field(3) * 60 + if n == 8 { field(6) } else { 0 },
        ));
    }
    if v.len() < 10 || !is_date(&v[..10]) {
        return None;
    }
    if v.len() == 10 {
        return Some(Temporal::Date(days_from_civil(v)));
    }
    if !matches!(v[10], b'T' | b' ') {
        return None;
    }
    let clock_text = &v[11..];
    let n = clock(clock_text, true)?;
    let mut rest = &clock_text[n..];
    let mut nanos: Option<i64> = None;
    if n == 8 && rest.first() == Some(&b'.') {
        let f = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if f == 0 || f > 9 {
            return None;
        }
        let value = rest[1..1 + f].iter().fold(0i64, |a, b| a * 10 + i64::from(b - b'0'));
        nanos = Some(value * 10i64.pow(9 - f as u32));
        rest = &rest[1 + f..];
    }
    // The zone's offset east of UTC, in seconds.
    let offset: Option<i64> = match rest {
        [] => None,
        b"Z" => Some(0),
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let hm = match zone.len() {
                2 => digits(zone, 2).map(|h| (h, 0)),
                4 => digits(zone, 2).zip(digits(&zone[2..], 2)),
                5 if zone[2] == b':' => digits(zone, 2).zip(digits(&zone[3..], 2)),
                _ => None,
            };
            match hm {
                Some((h, m)) if h < 24 && m < 60 => {
                    let secs = i64::from(h * 3600 + m * 60);
                    Some(if *sign == b'-' { -secs } else { secs })
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    let field = |at: usize| digits(&clock_text[at.min(clock_text.len())..], 2).map_or(0, i64::from);
    let secs = days_from_civil(&v[..10]) * 86_400
        + field(0) * 3600
        + if n >= 5 { field(3) * 60 } else { 0 }
        + if n == 8 { field(6) } else { 0 }
        - offset.unwrap_or(0);
    Some(Temporal::Stamp {
        secs,
        nanos,
        zoned: offset.is_some(),
    })
}

/// Which of the date, time and timestamp types `v` converts to.
fn temporal(v: &[u8]) -> u16 {
    // Nanosecond timestamps hold 1677-09-21 to 2262-04-11 (int64 nanoseconds of UTC);
    // pyarrow scales the whole seconds first, then adds the fraction: both must fit.
    let fits_ns = |secs: i64, nanos: i64| {
        let whole = i128::from(secs) * 1_000_000_000;
        i64::try_from(whole).is_ok() && i64::try_from(whole + i128::from(nanos)).is_ok()
    };
    match parse_temporal(v) {
        None => 0,
        Some(Temporal::Time(_)) => TIME,
        Some(Temporal::Date(days)) => DATE | TS_S | if fits_ns(days * 86_400, 0) { TS_NS } else { 0 },
        Some(Temporal::Stamp { secs, nanos, zoned }) => {
            let ns = |kind: u16| if fits_ns(secs, nanos.unwrap_or(0)) { kind } else { 0 };
            match (zoned, nanos.is_some()) {
                (false, false) => TS_S | ns(TS_NS),
                (false, true) => ns(TS_NS),
                (true, false) => TSZ_S | ns(TSZ_NS),
                (true, true) => ns(TSZ_NS),
            }
        }
    }
}

/// Whether `v` is what pyarrow's JSON reader takes for a `timestamp[s]`: a date, or a
/// date-time without a fraction, with or without a zone.
pub(crate) fn is_timestamp_seconds(v: &[u8]) -> bool {
    temporal(v) & (TS_S | TSZ_S) != 0
}

/// Days from 1970-01-01 to a valid `YYYY-MM-DD` (proleptic Gregorian calendar).
fn days_from_civil(date: &[u8]) -> i64 {
    let (y, m, d) = (
        i64::from(digits(date, 4).unwrap_or(0)),
        i64::from(digits(&date[5..], 2).unwrap_or(1)),
        i64::from(digits(&date[8..], 2).unwrap_or(1)),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> DataType {
        let mut c = ColumnTypes::default();
        for v in values {
            c.add(v.as_bytes(), false, true);
        }
        c.data_type()
    }

    #[test]
    fn each_value_kind() {
        use DataType::*;
        let cases: &[(&[&str], DataType)] = &[
            (&["1", "-2", " 3", "\t4", "0x1F", "0XFFFFFFFFFFFFFFFF"], Int64),
            (&["9223372036854775807", "-9223372036854775808"], Int64),
            (&["9223372036854775808"], Float64),
            (&["+1"], Float64),
            (&["-0x10"], Utf8),
            (&["1", "0", "true", "FALSE"], Boolean),
            (&["tRuE"], Utf8),
            (&[" true"], Utf8),
            (&["2020-02-29", " 2020-01-01 "], Date32),
            (&["2021-02-29"], Utf8),
            (&["10000-01-01"], Utf8),
            (&["12:30", "23:59:59"], Time32(TimeUnit::Second)),
            (&["24:00:00"], Utf8),
            (&["12:30:00.5"], Utf8),
            (&["2020-01-01", "2020-01-01 12"], Timestamp(TimeUnit::Second, None)),
            (
                &["2020-01-01T12:00:00", "2020-01-01 12:00:00.5"],
                Timestamp(TimeUnit::Nanosecond, None),
            ),
            (&["2020-01-01 12:00:00.1234567891"], Utf8),
            (&["1677-09-21 00:12:44.5"], Timestamp(TimeUnit::Nanosecond, None)),
            (&["1677-09-21 00:12:43.5"], Utf8),
            (&["1677-09-21T00:12:43.145224192Z"], Utf8),
            (&["2020-01-01T00:00:00 "], Utf8),
            (&[" 2020-01-01T00:00:00"], Utf8),
            (&[" 12:00", "12:30 "], Time32(TimeUnit::Second)),
            (
                &["2262-04-11 23:47:16.854775807"],
                Timestamp(TimeUnit::Nanosecond, None),
            ),
            (&["2262-04-11 23:47:16.854775808"], Utf8),
            (
                &["2262-04-11T23:47:17.5+01:00"],
                Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ),
            (&["0001-01-01 00:00:00", "2020-01-01 00:00:00.5"], Utf8),
            (&["1970-01-01"], Date32),
            (
                &[
                    "2020-01-01T12:00:00Z",
                    "2020-01-01T12:00:00+0100",
                    "2020-01-01T12:00:00-01",
                ],
                Timestamp(TimeUnit::Second, Some("UTC".into())),
            ),
            (
                &["2020-01-01T12:00:00.5+01:00"],
                Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ),
            (&["2020-01-01", "2020-01-01T12:00:00Z"], Utf8),
            (&["2020-01-01T12:00:00+24:00"], Utf8),
            (&["2020-01-01 12:00:00 +01:00"], Utf8),
            (&["1.5", "2", "1e5", ".5", "5.", "-inf", "Infinity", "NAN"], Float64),
            (&["1.5", "0x10"], Utf8),
            (&["5e", ".", "-"], Utf8),
            (&["1", "2.5", "abc"], Utf8),
        ];
        for (values, want) in cases {
            assert_eq!(&column(values), want, "{values:?}");
        }
    }

    #[test]
    fn null_tokens_constrain_nothing_and_alone_make_null() {
        for t in NULL_TOKENS {
            let t = std::str::from_utf8(t).unwrap();
            assert_eq!(column(&[t, "7"]), DataType::Int64, "{t:?}");
            assert_eq!(column(&[t]), DataType::Null, "{t:?}");
        }
        assert_eq!(column(&["None", "7"]), DataType::Utf8);
        assert_eq!(column(&["  ", "7"]), DataType::Utf8);
    }

    #[test]
    fn the_type_widens_as_late_values_demand() {
        let mut many: Vec<String> = (0..1500).map(|i| i.to_string()).collect();
        assert_eq!(
            column(&many.iter().map(String::as_str).collect::<Vec<_>>()),
            DataType::Int64
        );
        many.push("2.5".into());
        assert_eq!(
            column(&many.iter().map(String::as_str).collect::<Vec<_>>()),
            DataType::Float64
        );
        many.push("abc".into());
        assert_eq!(
            column(&many.iter().map(String::as_str).collect::<Vec<_>>()),
            DataType::Utf8
        );
        let mut c = ColumnTypes::default();
        c.add(b"1", false, true);
        c.add(b"\xff", false, false);
        assert_eq!(c.data_type(), DataType::Binary);
        let mut c = ColumnTypes::default();
        c.add(b"abc", false, true);
        assert!(!c.typed());
        c.add_text(true);
        assert_eq!(c.data_type(), DataType::Utf8);
        c.add_text(false);
        assert_eq!(c.data_type(), DataType::Binary);
        let long = format!("{}1", "0".repeat(600));
        assert_eq!(column(&[&long]), DataType::Int64, "long values are typed too");
        let mut c = ColumnTypes::default();
        c.add(b"12345", true, true);
        assert_eq!(
            c.data_type(),
            DataType::Utf8,
            "a value too long for any typed reading is text"
        );
    }
}
