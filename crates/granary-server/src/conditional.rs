//! Conditional and range requests (RFC 9110 §13 and §14) for every route that serves bytes:
//! signed links, blob routes under `/api/v1` and `/v2/`, and the web UI's assets. One pure
//! function, [`evaluate`], decides from the request's headers what to send; the routes only
//! fetch the bytes it names.

use axum::http::{header, HeaderMap, Method};
use chrono::{DateTime, Utc};
use std::ops::Range;

/// Most ranges served in one `multipart/byteranges` response; a `Range` asking for more is
/// ignored and the whole representation is sent (RFC 9110 §14.2 lets a server ignore it).
pub const MAX_RANGES: usize = 32;

/// What a byte route knows about the representation before reading it.
#[derive(Clone, Debug)]
pub struct Representation {
    /// Length in bytes.
    pub size: u64,
    /// A strong entity tag, quoted (`"sha256:…"`).
    pub etag: String,
    /// Last modification, whole seconds (HTTP dates carry no fraction); none when unknown.
    pub last_modified: Option<DateTime<Utc>>,
}

/// What to answer, in the order of evaluation of RFC 9110 §13.2.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 412: `If-Match` or `If-Unmodified-Since` failed.
    PreconditionFailed,
    /// 304: `If-None-Match` or `If-Modified-Since` says the client's copy is current.
    NotModified,
    /// 200 with the whole representation.
    Full,
    /// 206 with one range (`Content-Range`).
    Partial(Range<u64>),
    /// 206 `multipart/byteranges` with two or more ranges, in the order asked.
    Multipart(Vec<Range<u64>>),
    /// 416 with `Content-Range: bytes */size`: no range asked for is satisfiable.
    Unsatisfiable,
}

/// Decides the answer to a `GET` or `HEAD` of `rep` from the request's `If-Match`,
/// `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`, `Range` and `If-Range`
/// headers. Rules beyond the RFC's musts:
/// - `Range` is honoured on `GET` only (the only method RFC 9110 §14.2 defines it for);
///   a `Range` that does not parse, or that names a unit other than `bytes`, is ignored.
/// - A zero-length representation ignores a suffix range (`bytes=-5`: 200, empty) and finds
///   every other range unsatisfiable (416).
/// - More than [`MAX_RANGES`] ranges: the whole representation (200).
pub fn evaluate(method: &Method, headers: &HeaderMap, rep: &Representation) -> Outcome {
    let text = |name: header::HeaderName| -> Option<String> {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let modified_after = |since: &DateTime<Utc>| rep.last_modified.is_some_and(|lm| lm > *since);
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    if let Some(im) = text(header::IF_MATCH) {
        if !etag_list_matches(&im, &rep.etag, true) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = text(header::IF_UNMODIFIED_SINCE).and_then(|d| http_date(&d)) {
        // Without a modification date the condition cannot be shown true.
        if rep.last_modified.is_none() || modified_after(&date) {
            return Outcome::PreconditionFailed;
        }
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since.
    if let Some(inm) = text(header::IF_NONE_MATCH) {
        if etag_list_matches(&inm, &rep.etag, false) {
            return Outcome::NotModified;
        }
    } else if let Some(date) = text(header::IF_MODIFIED_SINCE).and_then(|d| http_date(&d)) {
        if rep.last_modified.is_some() && !modified_after(&date) {
            return Outcome::NotModified;
        }
    }
    // Step 5: Range, when If-Range (if any) holds.
    if method != Method::GET {
        return Outcome::Full;
    }
    let Some(range) = text(header::RANGE) else {
        return Outcome::Full;
    };
    if let Some(condition) = text(header::IF_RANGE) {
        if !if_range_holds(condition.trim(), rep) {
            return Outcome::Full;
        }
    }
    match parse_ranges(&range, rep.size) {
        Ranges::Ignore => Outcome::Full,
        Ranges::Unsatisfiable => Outcome::Unsatisfiable,
        Ranges::Satisfiable(mut r) if r.len() == 1 => Outcome::Partial(r.remove(0)),
        Ranges::Satisfiable(r) => Outcome::Multipart(r),
    }
}

/// `If-Range`: an entity tag must match strongly (a weak tag never does); a date must
/// equal the last modification exactly (RFC 9110 §13.1.5).
fn if_range_holds(condition: &str, rep: &Representation) -> bool {
    if condition.starts_with('"') || condition.starts_with("W/") {
        return !condition.starts_with("W/") && condition == rep.etag;
    }
    match (http_date(condition), rep.last_modified) {
        (Some(date), Some(lm)) => date == lm,
        _ => false,
    }
}

/// Whether a list of entity tags (`If-Match`, `If-None-Match`) names `etag` (a strong tag),
/// or is `*`. `strong`: weak tags (`W/"…"`) never match (If-Match); otherwise they match by
/// their opaque part (If-None-Match's weak comparison).
fn etag_list_matches(list: &str, etag: &str, strong: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(weak) => !strong && weak == etag,
            None => tag == etag,
        }
    })
}

/// An HTTP-date in any of the three forms RFC 9110 §5.6.7 says a recipient accepts.
pub fn http_date(value: &str) -> Option<DateTime<Utc>> {
    httpdate::parse_http_date(value.trim()).ok().map(DateTime::<Utc>::from)
}

/// An HTTP-date in the preferred IMF-fixdate form.
pub fn format_http_date(t: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(t.into())
}

#[derive(Debug, PartialEq, Eq)]
enum Ranges {
    /// Not a valid `bytes` range set: send the whole representation.
    Ignore,
    Unsatisfiable,
    Satisfiable(Vec<Range<u64>>),
}

/// A decimal that may not fit in 64 bits: recipients must not fail on large numerals
/// (RFC 9110 §14.1.1), so such a number reads as `u64::MAX`.
fn numeral(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Parses `bytes=first-last, first-, -suffix, …` against a representation of `size` bytes.
fn parse_ranges(value: &str, size: u64) -> Ranges {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Ranges::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Ignore;
    }
    let specs: Vec<&str> = set.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if specs.is_empty() || specs.len() > MAX_RANGES {
        return Ranges::Ignore;
    }
    let mut out = Vec::new();
    let mut suffix_only = true;
    for spec in specs {
        let Some((a, b)) = spec.split_once('-') else {
            return Ranges::Ignore;
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            let Some(n) = numeral(b) else { return Ranges::Ignore };
            if n > 0 && size > 0 {
                out.push(size.saturating_sub(n)..size);
            }
            continue;
        }
        suffix_only = false;
        let Some(first) = numeral(a) else { return Ranges::Ignore };
        let last = if b.is_empty() {
            None
        } else {
            match numeral(b) {
                Some(l) if l >= first => Some(l),
                _ => return Ranges::Ignore,
            }
        };
        if first < size {
            let end = last.map_or(size, |l| l.saturating_add(1).min(size));
            out.push(first..end);
        }
    }
    if out.is_empty() {
        // Only suffix ranges against an empty representation: nothing to cut, send it whole.
        if size == 0 && suffix_only {
            return Ranges::Ignore;
        }
        return Ranges::Unsatisfiable;
    }
    Ranges::Satisfiable(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ETAG: &str = "\"sha256:abc\"";
    const LM: &str = "Tue, 01 Dec 2026 10:00:00 GMT";
    const BEFORE: &str = "Tue, 01 Dec 2026 09:59:59 GMT";
    const AFTER: &str = "Tue, 01 Dec 2026 10:00:01 GMT";

    fn rep(size: u64) -> Representation {
        Representation {
            size,
            etag: ETAG.into(),
            last_modified: http_date(LM),
        }
    }

    fn eval(method: Method, size: u64, headers: &[(&str, &str)]) -> Outcome {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        evaluate(&method, &h, &rep(size))
    }

    use Outcome::*;

    /// One row per header and outcome: (headers, method, size, outcome).
    #[test]
    fn the_rfc_9110_table() {
        let g = Method::GET;
        let h = Method::HEAD;
        type Row<'a> = (Vec<(&'a str, &'a str)>, Method, u64, Outcome);
        let rows: Vec<Row> = vec![
            (vec![], g.clone(), 10, Full),
            // If-Match: strong comparison; `*` matches any existing representation.
            (vec![("if-match", ETAG)], g.clone(), 10, Full),
            (vec![("if-match", "\"other\", \"sha256:abc\"")], g.clone(), 10, Full),
            (vec![("if-match", "*")], g.clone(), 10, Full),
            (vec![("if-match", "\"other\"")], g.clone(), 10, PreconditionFailed),
            (
                vec![("if-match", "W/\"sha256:abc\"")],
                g.clone(),
                10,
                PreconditionFailed,
            ),
            (vec![("if-match", "\"other\"")], h.clone(), 10, PreconditionFailed),
            // If-Unmodified-Since, only without If-Match.
            (vec![("if-unmodified-since", LM)], g.clone(), 10, Full),
            (vec![("if-unmodified-since", AFTER)], g.clone(), 10, Full),
            (vec![("if-unmodified-since", BEFORE)], g.clone(), 10, PreconditionFailed),
            (vec![("if-unmodified-since", "yesterday")], g.clone(), 10, Full),
            (
                vec![("if-match", ETAG), ("if-unmodified-since", BEFORE)],
                g.clone(),
                10,
                Full,
            ),
            // If-None-Match: weak comparison; 304 for GET and HEAD.
            (vec![("if-none-match", ETAG)], g.clone(), 10, NotModified),
            (vec![("if-none-match", "W/\"sha256:abc\"")], g.clone(), 10, NotModified),
            (
                vec![("if-none-match", "\"a\", \"sha256:abc\"")],
                h.clone(),
                10,
                NotModified,
            ),
            (vec![("if-none-match", "*")], g.clone(), 10, NotModified),
            (vec![("if-none-match", "\"other\"")], g.clone(), 10, Full),
            // If-Modified-Since, only without If-None-Match.
            (vec![("if-modified-since", LM)], g.clone(), 10, NotModified),
            (vec![("if-modified-since", AFTER)], g.clone(), 10, NotModified),
            (vec![("if-modified-since", BEFORE)], g.clone(), 10, Full),
            (
                vec![("if-modified-since", "Tuesday, 01-Dec-26 10:00:00 GMT")],
                g.clone(),
                10,
                NotModified,
            ),
            (
                vec![("if-modified-since", "Tue Dec  1 10:00:00 2026")],
                g.clone(),
                10,
                NotModified,
            ),
            (vec![("if-modified-since", "not a date")], g.clone(), 10, Full),
            (
                vec![("if-none-match", "\"other\""), ("if-modified-since", LM)],
                g.clone(),
                10,
                Full,
            ),
            // If-Match is evaluated before If-None-Match.
            (
                vec![("if-match", "\"other\""), ("if-none-match", ETAG)],
                g.clone(),
                10,
                PreconditionFailed,
            ),
            // Range: single, open, suffix, clamped, several, unsatisfiable, ignored.
            (vec![("range", "bytes=0-4")], g.clone(), 10, Partial(0..5)),
            (vec![("range", "bytes=5-")], g.clone(), 10, Partial(5..10)),
            (vec![("range", "bytes=-3")], g.clone(), 10, Partial(7..10)),
            (vec![("range", "bytes=-30")], g.clone(), 10, Partial(0..10)),
            (vec![("range", "bytes=8-100")], g.clone(), 10, Partial(8..10)),
            (
                vec![("range", "bytes=8-99999999999999999999999")],
                g.clone(),
                10,
                Partial(8..10),
            ),
            (vec![("range", "Bytes = 1-1")], g.clone(), 10, Partial(1..2)),
            (
                vec![("range", "bytes=0-1, 4-5")],
                g.clone(),
                10,
                Multipart(vec![0..2, 4..6]),
            ),
            (
                vec![("range", "bytes=0-1,20-30,-2")],
                g.clone(),
                10,
                Multipart(vec![0..2, 8..10]),
            ),
            (vec![("range", "bytes=0-1,20-30")], g.clone(), 10, Partial(0..2)),
            (vec![("range", "bytes=10-")], g.clone(), 10, Unsatisfiable),
            (vec![("range", "bytes=10-20, 30-")], g.clone(), 10, Unsatisfiable),
            (vec![("range", "bytes=-0")], g.clone(), 10, Unsatisfiable),
            (vec![("range", "bytes=5-2")], g.clone(), 10, Full),
            (vec![("range", "bytes=0-1,x")], g.clone(), 10, Full),
            (vec![("range", "items=0-1")], g.clone(), 10, Full),
            (vec![("range", "bytes=")], g.clone(), 10, Full),
            (vec![("range", "bytes=0-4")], h.clone(), 10, Full),
            // Empty representations.
            (vec![("range", "bytes=0-")], g.clone(), 0, Unsatisfiable),
            (vec![("range", "bytes=0-0")], g.clone(), 0, Unsatisfiable),
            (vec![("range", "bytes=-5")], g.clone(), 0, Full),
            (vec![], g.clone(), 0, Full),
            // If-Range: strong ETag or exact date, else the whole representation.
            (
                vec![("range", "bytes=0-4"), ("if-range", ETAG)],
                g.clone(),
                10,
                Partial(0..5),
            ),
            (
                vec![("range", "bytes=0-4"), ("if-range", "\"other\"")],
                g.clone(),
                10,
                Full,
            ),
            (
                vec![("range", "bytes=0-4"), ("if-range", "W/\"sha256:abc\"")],
                g.clone(),
                10,
                Full,
            ),
            (
                vec![("range", "bytes=0-4"), ("if-range", LM)],
                g.clone(),
                10,
                Partial(0..5),
            ),
            (vec![("range", "bytes=0-4"), ("if-range", AFTER)], g.clone(), 10, Full),
            (vec![("range", "bytes=0-4"), ("if-range", BEFORE)], g.clone(), 10, Full),
            (
                vec![("range", "bytes=0-4"), ("if-range", "garbage")],
                g.clone(),
                10,
                Full,
            ),
            (vec![("if-range", ETAG)], g.clone(), 10, Full),
            (
                vec![("range", "bytes=20-"), ("if-range", "\"other\"")],
                g.clone(),
                10,
                Full,
            ),
            // Conditionals come before Range.
            (
                vec![("range", "bytes=0-4"), ("if-none-match", ETAG)],
                g.clone(),
                10,
                NotModified,
            ),
            (
                vec![("range", "bytes=0-4"), ("if-match", "\"x\"")],
                g.clone(),
                10,
                PreconditionFailed,
            ),
        ];
        for (headers, method, size, want) in rows {
            assert_eq!(
                eval(method.clone(), size, &headers),
                want,
                "{method} {size} {headers:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_RANGES as u64).map(|i| format!("{i}-{i}")).collect();
        let many = format!("bytes={}", many.join(","));
        assert_eq!(eval(Method::GET, 100, &[("range", &many)]), Full);
    }

    #[test]
    fn without_a_modification_date_dates_never_hold() {
        let rep = Representation {
            size: 10,
            etag: ETAG.into(),
            last_modified: None,
        };
        let mut h = HeaderMap::new();
        h.insert(header::IF_MODIFIED_SINCE, HeaderValue::from_static(LM));
        assert_eq!(evaluate(&Method::GET, &h, &rep), Full);
        let mut h = HeaderMap::new();
        h.insert(header::IF_UNMODIFIED_SINCE, HeaderValue::from_static(LM));
        assert_eq!(evaluate(&Method::GET, &h, &rep), PreconditionFailed);
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        h.insert(header::IF_RANGE, HeaderValue::from_static(LM));
        assert_eq!(evaluate(&Method::GET, &h, &rep), Full);
        assert_eq!(format_http_date(http_date(LM).unwrap()), LM);
    }
}
