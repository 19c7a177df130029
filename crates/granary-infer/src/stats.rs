//! Column statistics of a parquet file (an original or a rendition), in the Hugging Face
//! dataset viewer's vocabulary: per column `nan_count` and `nan_proportion` (nulls), and by
//! kind: numbers `min`, `max`, `mean`, `median`, `std` (sample, ddof 1) and a 10-bin
//! `histogram` (`hist`, `bin_edges`); strings `n_unique`, the ten most frequent values
//! (`frequencies`) and a histogram of their lengths in characters; booleans `frequencies`;
//! lists the same for their lengths; dates and timestamps `min`, `max` and a histogram.
//!
//! Memory is bounded by the columns, not the rows: the file is read three times, a batch
//! at a time. The first pass counts and finds ranges, the second fills the histograms and
//! a 4,096-bin histogram per number column that locates its median, the third keeps only
//! the values of the median's bin and selects the exact median from them. Where every row
//! group's footer statistics give a number column's range, the first pass fills the
//! histograms from it too, and checks it: a range the values do not match (a writer's
//! bad statistics) sends the column through the second pass as before. A string
//! column's distinct values are counted up to [`MAX_DISTINCT`]; past it `n_unique` and
//! `frequencies` are null (not exact).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatchReader};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::values::double;
use crate::InferError;

/// Most distinct strings counted per column.
pub const MAX_DISTINCT: usize = 100_000;
/// Bins of the histograms shown.
pub const BINS: usize = 10;
/// Bins of the histogram that locates a median.
const FINE: usize = 4096;
/// Rows per batch read.
const BATCH: usize = 65_536;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Bool,
    Str,
    List,
    Time,
    Other,
}

fn kind(dt: &DataType) -> Kind {
    use DataType::*;
    match dt {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Kind::Int,
        Float16 | Float32 | Float64 | Decimal128(..) | Decimal256(..) => Kind::Float,
        Boolean => Kind::Bool,
        Utf8 | LargeUtf8 | Utf8View => Kind::Str,
        List(_) | LargeList(_) | FixedSizeList(..) => Kind::List,
        Date32 | Date64 | Timestamp(..) => Kind::Time,
        Dictionary(_, v) if matches!(**v, Utf8 | LargeUtf8) => Kind::Str,
        _ => Kind::Other,
    }
}

/// The numbers of a column as `f64` (integers, floats, decimals, list lengths, string
/// lengths, temporal values as integers, divided by `per`), `None` for nulls.
fn numbers(a: &ArrayRef, k: Kind, per: i64) -> Vec<Option<f64>> {
    let a = match a.data_type() {
        DataType::Dictionary(..) => arrow_cast::cast(a, &DataType::Utf8).unwrap_or_else(|_| a.clone()),
        _ => a.clone(),
    };
    match k {
        Kind::Int | Kind::Float | Kind::Time => {
            if k == Kind::Time {
                return match arrow_cast::cast(&a, &DataType::Int64) {
                    Ok(i) => i
                        .as_primitive::<Int64Type>()
                        .iter()
                        .map(|v| v.map(|v| v.div_euclid(per) as f64))
                        .collect(),
                    Err(_) => vec![None; a.len()],
                };
            }
            match arrow_cast::cast(&a, &DataType::Float64) {
                Ok(f) => f.as_primitive::<Float64Type>().iter().collect(),
                Err(_) => vec![None; a.len()],
            }
        }
        Kind::Str => {
            let s = arrow_cast::cast(&a, &DataType::Utf8).unwrap_or(a);
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(|v| v.chars().count() as f64))
                .collect()
        }
        Kind::List => (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    return None;
                }
                Some(match a.data_type() {
                    DataType::List(_) => a.as_list::<i32>().value_length(i) as f64,
                    DataType::LargeList(_) => a.as_list::<i64>().value_length(i) as f64,
                    DataType::FixedSizeList(_, n) => *n as f64,
                    _ => 0.0,
                })
            })
            .collect(),
        Kind::Bool | Kind::Other => vec![None; a.len()],
    }
}

/// Calls `f` with each non-null, finite number of a column (as [`numbers`] gives them),
/// without allocating for the common primitive types.
fn for_each_number(a: &ArrayRef, k: Kind, per: i64, mut f: impl FnMut(f64)) {
    macro_rules! direct {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            if p.null_count() == 0 {
                for v in p.values().iter() {
                    f(*v as f64);
                }
            } else {
                for v in p.iter().flatten() {
                    f(v as f64);
                }
            }
            return;
        }};
    }
    if matches!(k, Kind::Int | Kind::Float) {
        match a.data_type() {
            DataType::Int64 => direct!(Int64Type),
            DataType::Int32 => direct!(Int32Type),
            DataType::Float64 => {
                let p = a.as_primitive::<Float64Type>();
                for v in p.iter().flatten().filter(|v| v.is_finite()) {
                    f(v);
                }
                return;
            }
            _ => {}
        }
    }
    if k == Kind::Str {
        if let DataType::Utf8 = a.data_type() {
            for v in a.as_string::<i32>().iter().flatten() {
                let n = if v.is_ascii() { v.len() } else { v.chars().count() };
                f(n as f64);
            }
            return;
        }
    }
    for v in numbers(a, k, per).into_iter().flatten().filter(|v| v.is_finite()) {
        f(v);
    }
}

/// Calls `f` with each non-null value of an integer column, or of a temporal column
/// (`Kind::Time`, divided by `per`), exactly.
fn for_each_int(a: &ArrayRef, k: Kind, per: i64, mut f: impl FnMut(i128)) {
    if k == Kind::Time {
        if let Ok(i) = arrow_cast::cast(a, &DataType::Int64) {
            for v in i.as_primitive::<Int64Type>().iter().flatten() {
                f(i128::from(v.div_euclid(per)));
            }
        }
        return;
    }
    macro_rules! each {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            if p.null_count() == 0 {
                for v in p.values().iter() {
                    f(i128::from(*v));
                }
            } else {
                for v in p.iter().flatten() {
                    f(i128::from(v));
                }
            }
        }};
    }
    match a.data_type() {
        DataType::Int8 => each!(Int8Type),
        DataType::Int16 => each!(Int16Type),
        DataType::Int32 => each!(Int32Type),
        DataType::Int64 => each!(Int64Type),
        DataType::UInt8 => each!(UInt8Type),
        DataType::UInt16 => each!(UInt16Type),
        DataType::UInt32 => each!(UInt32Type),
        DataType::UInt64 => each!(UInt64Type),
        _ => {}
    }
}

/// NaN, +infinity and -infinity among a floating point column's values.
fn non_finite(a: &ArrayRef) -> (u64, u64, u64) {
    if !matches!(a.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64) {
        return (0, 0, 0);
    }
    let Ok(f) = arrow_cast::cast(a, &DataType::Float64) else {
        return (0, 0, 0);
    };
    let mut out = (0, 0, 0);
    let p = f.as_primitive::<Float64Type>();
    if p.values().iter().all(|v| v.is_finite()) {
        return out;
    }
    for v in p.iter().flatten() {
        if v.is_nan() {
            out.0 += 1;
        } else if v == f64::INFINITY {
            out.1 += 1;
        } else if v == f64::NEG_INFINITY {
            out.2 += 1;
        }
    }
    out
}

/// Adds `v` to a Neumaier-compensated sum `(sum, compensation)`.
fn add_compensated(acc: &mut (f64, f64), v: f64) {
    let t = acc.0 + v;
    if acc.0.abs() >= v.abs() {
        acc.1 += (acc.0 - t) + v;
    } else {
        acc.1 += (v - t) + acc.0;
    }
    acc.0 = t;
}

/// How values fall into a column's shown bins and fine bins when its range is `lo..=hi`,
/// with the divisors worked out once.
struct Binning {
    lo: f64,
    /// Integral columns: the range's exact start and the bins' whole width.
    ilo: i128,
    iwidth: i128,
    integral: bool,
    /// Half the range, `hi / 2 - lo / 2`: finite for any finite `lo` and `hi`.
    half_span: f64,
    bins: usize,
}

impl Binning {
    fn new(c: &Col, lo: f64, hi: f64, ilo: i128, ihi: i128) -> Binning {
        Binning {
            lo,
            ilo,
            iwidth: if c.integral() { int_width(ilo, ihi) } else { 1 },
            integral: c.integral(),
            half_span: hi / 2.0 - lo / 2.0,
            bins: c.hist.len().max(1),
        }
    }

    /// Over the range the values have.
    fn of(c: &Col) -> Binning {
        let (ilo, ihi) = c.irange();
        Binning::new(c, c.m.min, c.m.max, ilo, ihi)
    }

    /// The shown bin of an integral value, exactly.
    fn coarse_int(&self, v: i128) -> usize {
        (((v - self.ilo) / self.iwidth).max(0) as usize).min(self.bins - 1)
    }

    fn coarse(&self, v: f64) -> usize {
        if self.integral {
            return self.coarse_int(v as i128);
        }
        self.scaled(v, self.bins)
    }

    fn fine(&self, v: f64) -> usize {
        self.scaled(v, FINE)
    }

    fn scaled(&self, v: f64, bins: usize) -> usize {
        if self.half_span == 0.0 {
            return 0;
        }
        (((v / 2.0 - self.lo / 2.0) / self.half_span * bins as f64) as usize).min(bins - 1)
    }
}

/// The whole width of the bins of integers `lo..=hi`: `ceil((hi - lo + 1) / 10)`, as the
/// Hugging Face viewer bins integers (fewer than 10 bins when the range is small).
fn int_width(lo: i128, hi: i128) -> i128 {
    let bins = BINS as i128;
    ((hi - lo + 1 + bins - 1) / bins).max(1)
}

/// Count, range, mean (Welford's, for the variance, and a compensated sum, for the mean
/// itself) of a column's finite numbers.
#[derive(Clone, Copy)]
struct Moments {
    n: u64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
    sum: (f64, f64),
}

impl Moments {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
        add_compensated(&mut self.sum, v);
    }
}

/// Running figures of one column.
struct Col {
    name: String,
    arrow_type: String,
    dt: DataType,
    kind: Kind,
    /// Temporal values are divided by this: 1000 for a column published in seconds whose
    /// file (a rendition) holds milliseconds.
    per: i64,
    nulls: u64,
    /// Finite numbers (or lengths).
    m: Moments,
    /// Integers and temporal values: the exact range.
    imin: i128,
    imax: i128,
    /// Floating point: NaN (counted with the nulls, as the Hugging Face viewer does) and
    /// infinities (in the range, mean and median; not in the histogram).
    nans: u64,
    pos_inf: u64,
    neg_inf: u64,
    hist: Vec<u64>,
    fine: Vec<u64>,
    /// The range the footer statistics gave, when pass one fills the histograms from it.
    preset: Option<(f64, f64)>,
    /// The fine bins holding the median's finite ranks, and the values seen in them.
    median_bins: Option<(usize, usize)>,
    median_values: Vec<f64>,
    // strings and booleans
    counts: HashMap<String, u64>,
    overflow: bool,
    /// Strings and lists: how many values have each length.
    lengths: HashMap<u64, u64>,
    trues: u64,
    falses: u64,
}

/// Whether `published` is `file`'s type in seconds where the file holds milliseconds (a
/// parquet rendition: parquet has no seconds unit).
fn seconds_of(file: &DataType, published: &DataType) -> bool {
    use arrow_schema::TimeUnit::{Millisecond, Second};
    match (file, published) {
        (DataType::Timestamp(Millisecond, a), DataType::Timestamp(Second, b)) => a == b,
        (DataType::Time32(Millisecond), DataType::Time32(Second)) => true,
        _ => false,
    }
}

impl Col {
    /// A column of type `dt` in the files, published as `published` when known.
    fn new(name: &str, dt: &DataType, published: Option<&DataType>) -> Col {
        let (dt, per) = match published {
            Some(p) if seconds_of(dt, p) => (p.clone(), 1000),
            _ => (dt.clone(), 1),
        };
        Col {
            name: name.to_string(),
            arrow_type: crate::arrow_type_name(&dt),
            kind: kind(&dt),
            dt,
            per,
            nulls: 0,
            m: Moments {
                n: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                mean: 0.0,
                m2: 0.0,
                sum: (0.0, 0.0),
            },
            imin: i128::MAX,
            imax: i128::MIN,
            nans: 0,
            pos_inf: 0,
            neg_inf: 0,
            hist: Vec::new(),
            fine: Vec::new(),
            preset: None,
            median_bins: None,
            median_values: Vec::new(),
            counts: HashMap::new(),
            overflow: false,
            lengths: HashMap::new(),
            trues: 0,
            falses: 0,
        }
    }

    fn integral(&self) -> bool {
        matches!(self.kind, Kind::Int | Kind::Str | Kind::List | Kind::Time)
    }

    /// Integers and temporal values are read exactly (as `i128`), not through `f64`.
    fn exact(&self) -> bool {
        matches!(self.kind, Kind::Int | Kind::Time)
    }

    /// The integral range: exact for integers and temporal values.
    fn irange(&self) -> (i128, i128) {
        if self.exact() && self.imin <= self.imax {
            (self.imin, self.imax)
        } else {
            (self.m.min as i128, self.m.max as i128)
        }
    }

    /// Edges of the shown histogram of an integral column: whole widths from the minimum
    /// (fewer than 10 bins when the range is small), then the maximum.
    fn int_edges(&self) -> Vec<i128> {
        if self.m.n == 0 {
            return Vec::new();
        }
        let (lo, hi) = self.irange();
        let w = int_width(lo, hi);
        let bins = (hi - lo + 1 + w - 1) / w;
        let mut e: Vec<i128> = (0..bins).map(|i| lo + i * w).collect();
        e.push(hi);
        e
    }

    /// Edges of the shown histogram of a floating point column: 10 equal bins from the
    /// least to the greatest finite value.
    fn float_edges(&self) -> Vec<f64> {
        if self.m.n == 0 {
            return Vec::new();
        }
        if self.m.max == self.m.min {
            return vec![self.m.min, self.m.max];
        }
        // `min + i * w`, at half scale so that no step overflows (exact: halving is).
        let w = self.m.max / BINS as f64 - self.m.min / BINS as f64;
        let mut e: Vec<f64> = (0..BINS)
            .map(|i| (self.m.min / 2.0 + i as f64 * (w / 2.0)) * 2.0)
            .collect();
        e.push(self.m.max);
        e
    }

    fn bin_count(&self) -> usize {
        let edges = if self.integral() {
            self.int_edges().len()
        } else {
            self.float_edges().len()
        };
        edges.saturating_sub(1).max(1)
    }

    fn pass1(&mut self, a: &ArrayRef) {
        self.nulls += a.null_count() as u64;
        match self.kind {
            Kind::Bool => {
                let b = a.as_boolean();
                let t = b.true_count() as u64;
                self.trues += t;
                self.falses += (b.len() - b.null_count()) as u64 - t;
            }
            Kind::Other => {}
            k => {
                if k == Kind::Str && !self.overflow {
                    let s = arrow_cast::cast(a, &DataType::Utf8).unwrap_or_else(|_| a.clone());
                    for v in s.as_string::<i32>().iter().flatten() {
                        if let Some(c) = self.counts.get_mut(v) {
                            *c += 1;
                        } else if self.counts.len() < MAX_DISTINCT {
                            self.counts.insert(v.to_string(), 1);
                        } else {
                            self.overflow = true;
                            self.counts.clear();
                            break;
                        }
                    }
                }
                if k == Kind::Float {
                    let (nan, pos, neg) = non_finite(a);
                    (self.nans, self.pos_inf, self.neg_inf) = (self.nans + nan, self.pos_inf + pos, self.neg_inf + neg);
                }
                let mut m = self.m;
                // With the footer's range, the histograms fill now; min and max are checked
                // against it afterwards.
                let binning = self
                    .preset
                    .map(|(lo, hi)| Binning::new(self, lo, hi, lo as i128, hi as i128));
                let (mut hist, mut fine) = (std::mem::take(&mut self.hist), std::mem::take(&mut self.fine));
                if self.exact() {
                    let (mut imin, mut imax) = (self.imin, self.imax);
                    for_each_int(a, k, self.per, |i| {
                        imin = imin.min(i);
                        imax = imax.max(i);
                        let v = i as f64;
                        if let Some(b) = &binning {
                            hist[b.coarse_int(i)] += 1;
                            fine[b.fine(v)] += 1;
                        }
                        m.add(v);
                    });
                    (self.imin, self.imax) = (imin, imax);
                } else {
                    let mut lengths = matches!(k, Kind::Str | Kind::List).then_some(&mut self.lengths);
                    for_each_number(a, k, self.per, |v| {
                        if let Some(l) = lengths.as_deref_mut() {
                            *l.entry(v as u64).or_default() += 1;
                        }
                        if let Some(b) = &binning {
                            hist[b.coarse(v)] += 1;
                            fine[b.fine(v)] += 1;
                        }
                        m.add(v);
                    });
                }
                (self.hist, self.fine) = (hist, fine);
                self.m = m;
            }
        }
    }

    /// Before pass one: fills the histograms in pass one over the range `(lo, hi)` the
    /// footer gives (integer and floating point columns only; integers within ±2^53,
    /// where `f64` holds them exactly).
    fn preset_range(&mut self, lo: f64, hi: f64) {
        let exact_ints = |v: f64| self.kind != Kind::Int || v.abs() <= crate::values::MAX_SAFE_INTEGER as f64;
        if !matches!(self.kind, Kind::Int | Kind::Float)
            || !lo.is_finite()
            || !hi.is_finite()
            || lo > hi
            || !exact_ints(lo)
            || !exact_ints(hi)
        {
            return;
        }
        // The histograms' shapes follow from the range alone.
        let saved = (self.m.min, self.m.max, self.m.n, self.imin, self.imax);
        (self.m.min, self.m.max, self.m.n, self.imin, self.imax) = (lo, hi, 1, lo as i128, hi as i128);
        self.hist = vec![0; self.bin_count()];
        self.fine = vec![0; FINE];
        (self.m.min, self.m.max, self.m.n, self.imin, self.imax) = saved;
        self.preset = Some((lo, hi));
    }

    /// After pass one: whether it filled the histograms, over the range the values have
    /// (else they are cleared for pass two).
    fn histograms_done(&mut self) -> bool {
        let Some((lo, hi)) = self.preset.take() else {
            return false;
        };
        if self.m.n > 0 && lo == self.m.min && hi == self.m.max {
            return true;
        }
        self.hist.clear();
        self.fine.clear();
        false
    }

    fn start_pass2(&mut self) {
        self.hist = vec![0; self.bin_count()];
        if self.kind == Kind::Int || self.kind == Kind::Float {
            self.fine = vec![0; FINE];
        }
        // Lengths are binned from their counts: no second pass.
        if matches!(self.kind, Kind::Str | Kind::List) && self.m.n > 0 {
            let binning = Binning::of(self);
            for (&len, &c) in &self.lengths {
                self.hist[binning.coarse_int(i128::from(len))] += c;
            }
        }
    }

    fn pass2(&mut self, a: &ArrayRef) {
        if matches!(self.kind, Kind::Bool | Kind::Other) || self.m.n == 0 {
            return;
        }
        let binning = Binning::of(self);
        let (mut hist, mut fine) = (std::mem::take(&mut self.hist), std::mem::take(&mut self.fine));
        if self.exact() {
            for_each_int(a, self.kind, self.per, |i| {
                hist[binning.coarse_int(i)] += 1;
                if !fine.is_empty() {
                    fine[binning.fine(i as f64)] += 1;
                }
            });
        } else {
            for_each_number(a, self.kind, self.per, |v| {
                hist[binning.coarse(v)] += 1;
                if !fine.is_empty() {
                    fine[binning.fine(v)] += 1;
                }
            });
        }
        (self.hist, self.fine) = (hist, fine);
    }

    /// The two middle ranks among all non-NaN values (infinities included) and, where a
    /// rank falls on a finite value, its rank among the finite values.
    fn middle(&self) -> [(u64, Option<u64>); 2] {
        let total = self.m.n + self.neg_inf + self.pos_inf;
        let finite = |r: u64| (r >= self.neg_inf && r < self.neg_inf + self.m.n).then(|| r - self.neg_inf);
        let (r1, r2) = (total.saturating_sub(1) / 2, total / 2);
        [(r1, finite(r1)), (r2, finite(r2))]
    }

    /// After pass 2: which fine bins hold the middle finite ranks.
    fn start_pass3(&mut self) -> bool {
        if self.fine.is_empty() || self.m.n == 0 {
            return false;
        }
        let ranks: Vec<u64> = self.middle().iter().filter_map(|m| m.1).collect();
        let (Some(&first), Some(&last)) = (ranks.first(), ranks.last()) else {
            return false;
        };
        let find = |r: u64| {
            let mut seen = 0;
            for (i, c) in self.fine.iter().enumerate() {
                seen += c;
                if seen > r {
                    return i;
                }
            }
            FINE - 1
        };
        self.median_bins = Some((find(first), find(last)));
        true
    }

    fn pass3(&mut self, a: &ArrayRef) {
        let Some((b1, b2)) = self.median_bins else { return };
        let binning = Binning::of(self);
        let mut kept = std::mem::take(&mut self.median_values);
        for_each_number(a, self.kind, self.per, |v| {
            let f = binning.fine(v);
            if f == b1 || f == b2 {
                kept.push(v);
            }
        });
        self.median_values = kept;
    }

    /// The median of the non-NaN values, infinities included.
    fn median(&mut self) -> Option<f64> {
        if self.m.n + self.neg_inf + self.pos_inf == 0 {
            return None;
        }
        let below: u64 = match self.median_bins {
            Some((b1, _)) => self.fine[..b1].iter().sum(),
            None => 0,
        };
        self.median_values.sort_by(f64::total_cmp);
        let at = |(r, finite): (u64, Option<u64>)| match finite {
            Some(f) => self.median_values.get(f.checked_sub(below)? as usize).copied(),
            None if r < self.neg_inf => Some(f64::NEG_INFINITY),
            None => Some(f64::INFINITY),
        };
        let [m1, m2] = self.middle();
        let (v1, v2) = (at(m1)?, at(m2)?);
        if v1 == v2 {
            return Some(v1);
        }
        let mid = v1 + (v2 - v1) / 2.0;
        Some(if mid.is_finite() { mid } else { v1 / 2.0 + v2 / 2.0 })
    }

    fn number(&self, v: f64) -> Value {
        if self.integral() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            json!(v as i64)
        } else {
            double(v)
        }
    }

    /// A temporal value (in the column's published unit) as rows show it.
    fn time_text(&self, v: i128) -> Value {
        let Ok(v) = i64::try_from(v) else { return Value::Null };
        let arr: ArrayRef = std::sync::Arc::new(arrow_array::Int64Array::from(vec![v]));
        let typed = match &self.dt {
            DataType::Date32 => arrow_cast::cast(&arr, &DataType::Int32).and_then(|a| arrow_cast::cast(&a, &self.dt)),
            dt => arrow_cast::cast(&arr, dt),
        };
        typed.map_or(Value::Null, |t| crate::values::cell(t.as_ref(), 0))
    }

    fn finish(mut self, rows: u64) -> Value {
        let mut s = Map::new();
        let missing = self.nulls + self.nans;
        s.insert("nan_count".into(), json!(missing));
        s.insert(
            "nan_proportion".into(),
            json!(if rows == 0 { 0.0 } else { missing as f64 / rows as f64 }),
        );
        let column_type = match self.kind {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::Str => "string",
            Kind::List => "list",
            Kind::Time => "datetime",
            Kind::Other => "other",
        };
        // The shown histogram, its edges shown by `show`.
        let int_histogram = |c: &Col, show: &dyn Fn(i128) -> Value| {
            if c.m.n == 0 {
                return Value::Null;
            }
            json!({"hist": c.hist, "bin_edges": c.int_edges().into_iter().map(show).collect::<Vec<_>>()})
        };
        let length = |v: i128| json!(v as i64);
        match self.kind {
            Kind::Int | Kind::Float => {
                let median = self.median();
                let (n, pos, neg) = (self.m.n, self.pos_inf, self.neg_inf);
                let (min, max, mean, std) = if self.kind == Kind::Int {
                    let (lo, hi) = self.irange();
                    (
                        (n > 0).then(|| crate::values::integer(lo)),
                        (n > 0).then(|| crate::values::integer(hi)),
                        (n > 0).then(|| double((self.m.sum.0 + self.m.sum.1) / n as f64)),
                        (n > 1).then(|| double((self.m.m2 / (n - 1) as f64).sqrt())),
                    )
                } else {
                    let total = n + pos + neg;
                    let min = if neg > 0 {
                        Some(f64::NEG_INFINITY)
                    } else if n > 0 {
                        Some(self.m.min)
                    } else {
                        (pos > 0).then_some(f64::INFINITY)
                    };
                    let max = if pos > 0 {
                        Some(f64::INFINITY)
                    } else if n > 0 {
                        Some(self.m.max)
                    } else {
                        (neg > 0).then_some(f64::NEG_INFINITY)
                    };
                    let mean = match (pos > 0, neg > 0) {
                        (true, true) => Some(f64::NAN),
                        (true, false) => Some(f64::INFINITY),
                        (false, true) => Some(f64::NEG_INFINITY),
                        _ => (n > 0).then(|| (self.m.sum.0 + self.m.sum.1) / n as f64),
                    };
                    let std = (total > 1).then(|| {
                        if pos + neg > 0 {
                            f64::NAN
                        } else {
                            (self.m.m2 / (n - 1) as f64).sqrt()
                        }
                    });
                    (min.map(double), max.map(double), mean.map(double), std.map(double))
                };
                s.insert("min".into(), min.unwrap_or(Value::Null));
                s.insert("max".into(), max.unwrap_or(Value::Null));
                s.insert("mean".into(), mean.unwrap_or(Value::Null));
                s.insert("median".into(), median.map_or(Value::Null, double));
                s.insert("std".into(), std.unwrap_or(Value::Null));
                let histogram = if self.kind == Kind::Int {
                    int_histogram(&self, &|v| crate::values::integer(v))
                } else if self.m.n == 0 {
                    Value::Null
                } else {
                    json!({"hist": self.hist, "bin_edges": self.float_edges().into_iter().map(double).collect::<Vec<_>>()})
                };
                s.insert("histogram".into(), histogram);
            }
            Kind::Bool => {
                s.insert("frequencies".into(), json!({"true": self.trues, "false": self.falses}));
            }
            Kind::Str => {
                if self.overflow {
                    s.insert("n_unique".into(), Value::Null);
                    s.insert("frequencies".into(), Value::Null);
                } else {
                    s.insert("n_unique".into(), json!(self.counts.len()));
                    let mut top: Vec<(&String, &u64)> = self.counts.iter().collect();
                    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                    let freq: Map<String, Value> =
                        top.into_iter().take(10).map(|(k, v)| (k.clone(), json!(v))).collect();
                    s.insert("frequencies".into(), Value::Object(freq));
                }
                s.insert("length_histogram".into(), int_histogram(&self, &length));
            }
            Kind::List => {
                if self.m.n > 0 {
                    s.insert("min".into(), self.number(self.m.min));
                    s.insert("max".into(), self.number(self.m.max));
                    s.insert("mean".into(), double((self.m.sum.0 + self.m.sum.1) / self.m.n as f64));
                }
                s.insert("length_histogram".into(), int_histogram(&self, &length));
            }
            Kind::Time => {
                if self.m.n > 0 {
                    let (lo, hi) = self.irange();
                    s.insert("min".into(), self.time_text(lo));
                    s.insert("max".into(), self.time_text(hi));
                }
                s.insert("histogram".into(), int_histogram(&self, &|v| self.time_text(v)));
            }
            Kind::Other => {}
        }
        json!({
            "column_name": self.name,
            "column_type": column_type,
            "arrow_type": self.arrow_type,
            "column_statistics": s,
        })
    }
}

/// The ranges of top-level columns `names` (of types `types`) over the files at `paths` by
/// their footers' row group statistics, each footer read once: for `int32`, `int64`, `float`
/// and `double` columns whose every row group with values has a minimum and maximum;
/// `None` otherwise.
fn footer_ranges(
    paths: &[PathBuf],
    names: &[&str],
    types: &[&DataType],
) -> Result<Vec<Option<(f64, f64)>>, InferError> {
    let wanted = |dt: &DataType| {
        matches!(
            dt,
            DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
        )
    };
    let mut out: Vec<Option<(f64, f64)>> = types
        .iter()
        .map(|dt| wanted(dt).then_some((f64::INFINITY, f64::NEG_INFINITY)))
        .collect();
    if out.iter().all(Option::is_none) {
        return Ok(out);
    }
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    for path in paths {
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&std::fs::File::open(path)?)
            .map_err(perr)?;
        let schema = meta.file_metadata().schema_descr();
        // Each root's single leaf (`None` for a root of several leaves).
        let mut leaf_of: std::collections::HashMap<usize, Option<usize>> = Default::default();
        for j in 0..schema.num_columns() {
            leaf_of
                .entry(schema.get_column_root_idx(j))
                .and_modify(|l| *l = None)
                .or_insert(Some(j));
        }
        let fields = schema.root_schema().get_fields();
        for (k, name) in names.iter().enumerate() {
            let Some((mut lo, mut hi)) = out[k] else { continue };
            let root = fields.iter().position(|f| f.name() == *name);
            let Some(&Some(leaf)) = root.and_then(|r| leaf_of.get(&r)) else {
                out[k] = None;
                continue;
            };
            let mut ok = true;
            for rg in meta.row_groups() {
                if rg.num_rows() == 0 {
                    continue;
                }
                let Some(stats) = rg.column(leaf).statistics() else {
                    ok = false;
                    break;
                };
                match footer_range(stats) {
                    Some((a, b)) => {
                        lo = lo.min(a);
                        hi = hi.max(b);
                    }
                    // A group of nulls has no range.
                    None if stats.null_count_opt() == Some(rg.num_rows() as u64) => {}
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            out[k] = ok.then_some((lo, hi));
        }
    }
    Ok(out.into_iter().map(|r| r.filter(|(lo, hi)| lo <= hi)).collect())
}

/// The (min, max) a row group's footer statistics give an `int32`, `int64`, `float` or
/// `double` column, as `f64`; `None` for other types or without both.
pub(crate) fn footer_range(stats: &parquet::file::statistics::Statistics) -> Option<(f64, f64)> {
    use parquet::file::statistics::Statistics;
    match stats {
        Statistics::Int32(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (f64::from(*a), f64::from(*b))),
        Statistics::Int64(s) => s.min_opt().zip(s.max_opt()).map(|(a, b)| (*a as f64, *b as f64)),
        Statistics::Float(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (f64::from(*a), f64::from(*b))),
        Statistics::Double(s) => s.min_opt().zip(s.max_opt()).map(|(a, b)| (*a, *b)),
        _ => None,
    }
}

/// A reader of `path`, of the top-level columns `only` (all when `None`).
fn read(
    path: &Path,
    only: Option<&[usize]>,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, InferError> {
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let mut b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)
        .map_err(perr)?
        .with_batch_size(BATCH);
    if let Some(only) = only {
        let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), only.iter().copied());
        b = b.with_projection(mask);
    }
    b.build().map_err(perr)
}

/// Calls `f` with the rows and the columns `names` (in that order) of each batch of the
/// files at `paths`; each file's columns are found by name, whatever their order there.
/// Errors when a file lacks one of them.
fn each(paths: &[PathBuf], names: &[&str], mut f: impl FnMut(usize, &[ArrayRef])) -> Result<(), InferError> {
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    for path in paths {
        let b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)
            .map_err(perr)?
            .with_batch_size(BATCH);
        let roots = names
            .iter()
            .map(|n| {
                b.schema()
                    .index_of(n)
                    .map_err(|_| InferError::Parquet(format!("a file of the split has no column {n:?}")))
            })
            .collect::<Result<Vec<usize>, _>>()?;
        // The batch holds the columns in the file's order.
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        let order: Vec<usize> = roots
            .iter()
            .map(|r| sorted.binary_search(r).unwrap_or_default())
            .collect();
        let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), roots.iter().copied());
        for batch in b.with_projection(mask).build().map_err(perr)? {
            let batch = batch.map_err(|e| InferError::Parquet(e.to_string()))?;
            let columns: Vec<ArrayRef> = order.iter().map(|&k| batch.column(k).clone()).collect();
            f(batch.num_rows(), &columns);
        }
    }
    Ok(())
}

/// The type each column of `first` (the first file's schema) is read as over all the
/// files at `paths`: its own, or `double` where files disagree between number types (a
/// column of integers in one file and doubles in another, as publishing unifies them).
fn unified_types(paths: &[PathBuf], first: &arrow_schema::Schema) -> Result<Vec<DataType>, InferError> {
    let mut types: Vec<DataType> = first.fields().iter().map(|f| f.data_type().clone()).collect();
    for path in paths.iter().skip(1) {
        let schema = read(path, None)?.schema();
        for (t, f) in types.iter_mut().zip(first.fields()) {
            if let Ok(other) = schema.field_with_name(f.name()) {
                let number = |d: &DataType| d.is_integer() || d.is_floating();
                if other.data_type() != t && number(t) && number(other.data_type()) {
                    *t = DataType::Float64;
                }
            }
        }
    }
    Ok(types)
}

/// The statistics of the parquet files at `paths`, read as one table (a split's files, in
/// order; columns are the first file's, found by name in the others, typed by the first
/// file unless files disagree between number types, then `double`): `{"num_rows", "columns": [{"column_name",
/// "column_type", "arrow_type", "column_statistics"}]}`. `cancelled` is asked between
/// batches; when it says so the work stops with [`InferError::Cancelled`]. `published`
/// (name, arrow type name) is the split's published schema, empty when not known: a
/// column published in seconds whose files hold milliseconds (a rendition) is shown in
/// seconds, under its published type.
pub fn column_statistics(
    paths: &[PathBuf],
    published: &[(String, String)],
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Value, InferError> {
    let first = paths.first().ok_or_else(|| InferError::Parquet("no files".into()))?;
    let schema = read(first, None)?.schema();
    let types = unified_types(paths, &schema)?;
    let types = &types;
    // Columns are independent: two threads take every other column, each reading only its own.
    let parts: Vec<Vec<usize>> = (0..THREADS)
        .map(|t| (t..schema.fields().len()).step_by(THREADS).collect())
        .filter(|p: &Vec<usize>| !p.is_empty())
        .collect();
    let results: Vec<Result<Part, InferError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                let schema = schema.clone();
                scope.spawn(move || {
                    let cols: Vec<Col> = part
                        .iter()
                        .map(|&i| {
                            let name = schema.field(i).name();
                            let published = published
                                .iter()
                                .find(|(n, _)| n == name)
                                .and_then(|(_, t)| crate::rendition::parse_type(t));
                            Col::new(name, &types[i], published.as_ref())
                        })
                        .collect();
                    let (rows, cols) = columns_of(paths, cols, cancelled)?;
                    Ok((rows, part.iter().copied().zip(cols).collect()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(InferError::Parquet("statistics panicked".into())))
            })
            .collect()
    });
    let mut rows = 0u64;
    let mut all: Vec<(usize, Col)> = Vec::new();
    for r in results {
        let (n, cols) = r?;
        rows = rows.max(n);
        all.extend(cols);
    }
    all.sort_by_key(|(i, _)| *i);
    // A file with no columns still has rows.
    if all.is_empty() {
        rows = paths
            .iter()
            .map(|p| read(p, None).map(|r| r.map(|b| b.map_or(0, |b| b.num_rows() as u64)).sum::<u64>()))
            .sum::<Result<u64, _>>()?;
    }
    Ok(json!({
        "num_rows": rows,
        "columns": all.into_iter().map(|(_, c)| c.finish(rows)).collect::<Vec<_>>(),
    }))
}

/// Threads the statistics run on.
const THREADS: usize = 2;

/// What one thread computed: rows read, and each column's figures by its index.
type Part = (u64, Vec<(usize, Col)>);

/// The three passes over the columns `part` (top-level indexes) of `paths`, into `cols`
/// (one per index, in order). Returns the rows read and the columns' figures.
fn columns_of(
    paths: &[PathBuf],
    mut cols: Vec<Col>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(u64, Vec<Col>), InferError> {
    let mut rows = 0u64;
    let mut stop = false;
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let types: Vec<&DataType> = cols.iter().map(|c| &c.dt).collect();
    let ranges = footer_ranges(paths, &names, &types)?;
    for (c, range) in cols.iter_mut().zip(ranges) {
        if let Some((lo, hi)) = range {
            c.preset_range(lo, hi);
        }
    }
    each(paths, &names, |n, columns| {
        stop |= cancelled();
        rows += n as u64;
        for (c, a) in cols.iter_mut().zip(columns) {
            c.pass1(a);
        }
    })?;
    let filled: Vec<bool> = cols.iter_mut().map(Col::histograms_done).collect();
    for (c, done) in cols.iter_mut().zip(&filled) {
        if !done {
            c.start_pass2();
        }
    }
    // Passes two and three read only the columns they need: numbers and dates (lengths of
    // strings and lists were counted in pass one). `at` are positions in `cols`.
    let second: Vec<usize> = (0..cols.len())
        .filter(|&i| matches!(cols[i].kind, Kind::Int | Kind::Float | Kind::Time) && cols[i].m.n > 0 && !filled[i])
        .collect();
    if !second.is_empty() && !stop {
        let wanted: Vec<&str> = second.iter().map(|&i| names[i]).collect();
        each(paths, &wanted, |_, columns| {
            stop |= cancelled();
            for (&i, a) in second.iter().zip(columns) {
                cols[i].pass2(a);
            }
        })?;
    }
    let third: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].start_pass3()).collect();
    if !third.is_empty() && !stop {
        let wanted: Vec<&str> = third.iter().map(|&i| names[i]).collect();
        each(paths, &wanted, |_, columns| {
            stop |= cancelled();
            for (&i, a) in third.iter().zip(columns) {
                cols[i].pass3(a);
            }
        })?;
    }
    if stop {
        return Err(InferError::Cancelled);
    }
    Ok((rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, RecordBatch};
    use std::sync::Arc;

    fn write(path: &Path, batch: &RecordBatch) {
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    /// A rendition holds a column published in seconds as milliseconds: its statistics
    /// are in seconds, under the published type, with whole-second edges. Nanosecond
    /// timestamps keep every digit (they pass 2^53).
    #[test]
    fn temporal_columns_show_their_published_unit_exactly() {
        use arrow_array::{TimestampMillisecondArray, TimestampNanosecondArray};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let base_ms = 1_577_874_000_000i64; // 2020-01-01T10:20:00
        let ms: Vec<i64> = (0..25).map(|i| base_ms + i * 7_000).collect();
        let ns: Vec<i64> = (0..25).map(|i| base_ms * 1_000_000 + i).collect();
        let batch = RecordBatch::try_from_iter([
            ("t", Arc::new(TimestampMillisecondArray::from(ms)) as ArrayRef),
            ("n", Arc::new(TimestampNanosecondArray::from(ns)) as ArrayRef),
        ])
        .unwrap();
        write(&path, &batch);
        let published = [("t".to_string(), "timestamp[s]".to_string())];
        let s = column_statistics(&[path], &published, &|| false).unwrap();
        let t = &s["columns"][0];
        assert_eq!(t["arrow_type"], "timestamp[s]");
        assert_eq!(t["column_statistics"]["min"], "2020-01-01T10:20:00");
        assert_eq!(t["column_statistics"]["max"], "2020-01-01T10:22:48");
        assert_eq!(
            t["column_statistics"]["histogram"],
            json!({
                "hist": [3, 2, 3, 2, 3, 2, 2, 3, 2, 3],
                "bin_edges": [
                    "2020-01-01T10:20:00", "2020-01-01T10:20:17", "2020-01-01T10:20:34",
                    "2020-01-01T10:20:51", "2020-01-01T10:21:08", "2020-01-01T10:21:25",
                    "2020-01-01T10:21:42", "2020-01-01T10:21:59", "2020-01-01T10:22:16",
                    "2020-01-01T10:22:33", "2020-01-01T10:22:48"
                ]
            })
        );
        let n = &s["columns"][1];
        assert_eq!(n["arrow_type"], "timestamp[ns]");
        assert_eq!(n["column_statistics"]["min"], "2020-01-01T10:20:00.000000000");
        assert_eq!(n["column_statistics"]["max"], "2020-01-01T10:20:00.000000024");
    }

    /// A split's files may hold their columns in another order, and a column as integers
    /// in one file and doubles in another: columns are matched by name and read as double.
    #[test]
    fn files_of_a_split_are_matched_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let (f1, f2) = (dir.path().join("1.parquet"), dir.path().join("2.parquet"));
        let a1 = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            ("c", Arc::new(Int64Array::from(vec![0, 6, 3])) as ArrayRef),
        ])
        .unwrap();
        let a2 = RecordBatch::try_from_iter([
            ("c", Arc::new(Float64Array::from(vec![999.5, 0.5])) as ArrayRef),
            ("a", Arc::new(Int64Array::from(vec![-5, 10])) as ArrayRef),
        ])
        .unwrap();
        write(&f1, &a1);
        write(&f2, &a2);
        let s = column_statistics(&[f1, f2], &[], &|| false).unwrap();
        assert_eq!(s["num_rows"], 5);
        let a = &s["columns"][0];
        assert_eq!(
            (a["column_name"].as_str(), a["arrow_type"].as_str()),
            (Some("a"), Some("int64"))
        );
        assert_eq!(a["column_statistics"]["min"], -5);
        assert_eq!(a["column_statistics"]["max"], 10);
        let c = &s["columns"][1];
        assert_eq!(
            (c["column_name"].as_str(), c["arrow_type"].as_str()),
            (Some("c"), Some("double"))
        );
        assert_eq!(c["column_statistics"]["min"], 0.0);
        assert_eq!(c["column_statistics"]["max"], 999.5);
        assert_eq!(c["column_statistics"]["median"], 3.0);
    }
}
