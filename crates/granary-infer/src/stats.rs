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
/// lengths, temporal values as integers), `None` for nulls.
fn numbers(a: &ArrayRef, k: Kind) -> Vec<Option<f64>> {
    let a = match a.data_type() {
        DataType::Dictionary(..) => arrow_cast::cast(a, &DataType::Utf8).unwrap_or_else(|_| a.clone()),
        _ => a.clone(),
    };
    match k {
        Kind::Int | Kind::Float | Kind::Time => {
            let cast = match k {
                Kind::Time => {
                    arrow_cast::cast(&a, &DataType::Int64).and_then(|x| arrow_cast::cast(&x, &DataType::Float64))
                }
                _ => arrow_cast::cast(&a, &DataType::Float64),
            };
            match cast {
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

/// Calls `f` with each non-null, non-NaN number of a column (as [`numbers`] gives them),
/// without allocating for the common primitive types.
fn for_each_number(a: &ArrayRef, k: Kind, mut f: impl FnMut(f64)) {
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
                for v in p.iter().flatten().filter(|v| !v.is_nan()) {
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
    for v in numbers(a, k).into_iter().flatten().filter(|v| !v.is_nan()) {
        f(v);
    }
}

/// The bins of [`Col::bin`] for a column whose range is `lo..=hi`, with the divisors
/// worked out once.
struct Binning {
    lo: f64,
    integral: bool,
    /// Integral columns: the coarse bins' whole width.
    width: f64,
    span: f64,
    bins: usize,
}

impl Binning {
    fn new(c: &Col, lo: f64, hi: f64) -> Binning {
        Binning {
            lo,
            integral: c.integral(),
            width: ((hi - lo + 1.0) / BINS as f64).ceil().max(1.0),
            span: hi - lo,
            bins: c.hist.len().max(1),
        }
    }

    fn coarse(&self, v: f64) -> usize {
        if self.integral {
            return (((v - self.lo) / self.width) as usize).min(self.bins - 1);
        }
        if self.span == 0.0 {
            return 0;
        }
        (((v - self.lo) / self.span * self.bins as f64) as usize).min(self.bins - 1)
    }

    fn fine(&self, v: f64) -> usize {
        if self.span == 0.0 {
            return 0;
        }
        (((v - self.lo) / self.span * FINE as f64) as usize).min(FINE - 1)
    }
}

/// Running figures of one column.
struct Col {
    name: String,
    arrow_type: String,
    dt: DataType,
    kind: Kind,
    nulls: u64,
    // numbers (or lengths): count, range, Welford mean and sum of squares
    n: u64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
    hist: Vec<u64>,
    fine: Vec<u64>,
    /// The range the footer statistics gave, when pass one fills the histograms from it.
    preset: Option<(f64, f64)>,
    /// The fine bins holding the median's ranks, and the values seen in them.
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

impl Col {
    fn new(name: &str, dt: &DataType) -> Col {
        Col {
            name: name.to_string(),
            arrow_type: crate::arrow_type_name(dt),
            dt: dt.clone(),
            kind: kind(dt),
            nulls: 0,
            n: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
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

    /// Bin edges of the shown histogram: 10 equal bins from min to max (integers: whole
    /// widths, fewer bins when the range is small).
    fn edges(&self) -> Vec<f64> {
        if self.n == 0 || !self.min.is_finite() {
            return Vec::new();
        }
        if self.integral() {
            let span = self.max - self.min + 1.0;
            let width = (span / BINS as f64).ceil().max(1.0);
            let bins = (span / width).ceil() as usize;
            let mut e: Vec<f64> = (0..bins).map(|i| self.min + i as f64 * width).collect();
            e.push(self.max);
            e
        } else if self.max == self.min {
            vec![self.min, self.max]
        } else {
            let w = (self.max - self.min) / BINS as f64;
            let mut e: Vec<f64> = (0..BINS).map(|i| self.min + i as f64 * w).collect();
            e.push(self.max);
            e
        }
    }

    fn bin(&self, v: f64, bins: usize) -> usize {
        if self.integral() && bins != FINE {
            let span = self.max - self.min + 1.0;
            let width = (span / BINS as f64).ceil().max(1.0);
            return (((v - self.min) / width) as usize).min(bins - 1);
        }
        if self.max == self.min {
            return 0;
        }
        (((v - self.min) / (self.max - self.min) * bins as f64) as usize).min(bins - 1)
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
                let (mut n, mut min, mut max, mut mean, mut m2) = (self.n, self.min, self.max, self.mean, self.m2);
                if let Some((lo, hi)) = self.preset {
                    // The footer's range: the histograms fill now; min and max are checked
                    // against it afterwards.
                    let binning = Binning::new(self, lo, hi);
                    let (hist, fine) = (&mut self.hist, &mut self.fine);
                    for_each_number(a, k, |v| {
                        hist[binning.coarse(v)] += 1;
                        fine[binning.fine(v)] += 1;
                        n += 1;
                        min = min.min(v);
                        max = max.max(v);
                        let d = v - mean;
                        mean += d / n as f64;
                        m2 += d * (v - mean);
                    });
                    (self.n, self.min, self.max, self.mean, self.m2) = (n, min, max, mean, m2);
                    return;
                }
                let lengths = matches!(k, Kind::Str | Kind::List).then_some(&mut self.lengths);
                let mut lengths = lengths;
                for_each_number(a, k, |v| {
                    if let Some(l) = lengths.as_deref_mut() {
                        *l.entry(v as u64).or_default() += 1;
                    }
                    n += 1;
                    min = min.min(v);
                    max = max.max(v);
                    let d = v - mean;
                    mean += d / n as f64;
                    m2 += d * (v - mean);
                });
                (self.n, self.min, self.max, self.mean, self.m2) = (n, min, max, mean, m2);
            }
        }
    }

    /// Before pass one: fills the histograms in pass one over the range `(lo, hi)` the
    /// footer gives (integer and floating point columns only).
    fn preset_range(&mut self, lo: f64, hi: f64) {
        if !matches!(self.kind, Kind::Int | Kind::Float) || lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
            return;
        }
        // The histograms' shapes follow from the range alone.
        let (min, max, n) = (self.min, self.max, self.n);
        (self.min, self.max, self.n) = (lo, hi, 1);
        self.hist = vec![0; self.edges().len().saturating_sub(1).max(1)];
        self.fine = vec![0; FINE];
        (self.min, self.max, self.n) = (min, max, n);
        self.preset = Some((lo, hi));
    }

    /// After pass one: whether it filled the histograms, over the range the values have
    /// (else they are cleared for pass two).
    fn histograms_done(&mut self) -> bool {
        let Some((lo, hi)) = self.preset.take() else {
            return false;
        };
        if self.n > 0 && lo == self.min && hi == self.max {
            return true;
        }
        self.hist.clear();
        self.fine.clear();
        false
    }

    fn start_pass2(&mut self) {
        let bins = self.edges().len().saturating_sub(1).max(1);
        self.hist = vec![0; bins];
        if self.kind == Kind::Int || self.kind == Kind::Float {
            self.fine = vec![0; FINE];
        }
        // Lengths are binned from their counts: no second pass.
        if matches!(self.kind, Kind::Str | Kind::List) && self.n > 0 {
            for (&len, &c) in &self.lengths {
                let b = self.bin(len as f64, bins);
                self.hist[b] += c;
            }
        }
    }

    fn pass2(&mut self, a: &ArrayRef) {
        if matches!(self.kind, Kind::Bool | Kind::Other) || self.n == 0 {
            return;
        }
        let binning = Binning::new(self, self.min, self.max);
        let (mut hist, mut fine) = (std::mem::take(&mut self.hist), std::mem::take(&mut self.fine));
        for_each_number(a, self.kind, |v| {
            hist[binning.coarse(v)] += 1;
            if !fine.is_empty() {
                fine[binning.fine(v)] += 1;
            }
        });
        (self.hist, self.fine) = (hist, fine);
    }

    /// After pass 2: which fine bins hold the two middle ranks.
    fn start_pass3(&mut self) -> bool {
        if self.fine.is_empty() || self.n == 0 {
            return false;
        }
        let (r1, r2) = ((self.n - 1) / 2, self.n / 2);
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
        self.median_bins = Some((find(r1), find(r2)));
        true
    }

    fn pass3(&mut self, a: &ArrayRef) {
        let Some((b1, b2)) = self.median_bins else { return };
        let mut kept = std::mem::take(&mut self.median_values);
        for_each_number(a, self.kind, |v| {
            let f = self.bin(v, FINE);
            if f == b1 || f == b2 {
                kept.push(v);
            }
        });
        self.median_values = kept;
    }

    fn median(&mut self) -> Option<f64> {
        let (b1, _) = self.median_bins?;
        let below: u64 = self.fine[..b1].iter().sum();
        let (r1, r2) = ((self.n - 1) / 2 - below, self.n / 2 - below);
        self.median_values.sort_by(f64::total_cmp);
        let v1 = *self.median_values.get(r1 as usize)?;
        let v2 = *self.median_values.get(r2 as usize)?;
        Some(v1 + (v2 - v1) / 2.0)
    }

    fn number(&self, v: f64) -> Value {
        if self.integral() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            json!(v as i64)
        } else {
            json!(v)
        }
    }

    fn time_text(&self, v: f64) -> Value {
        let i = v as i64;
        let arr: ArrayRef = std::sync::Arc::new(arrow_array::Int64Array::from(vec![i]));
        let typed = match &self.dt {
            DataType::Date32 => arrow_cast::cast(
                &arrow_cast::cast(&arr, &DataType::Int32).unwrap_or(arr.clone()),
                &self.dt,
            ),
            dt => arrow_cast::cast(&arr, dt),
        };
        typed
            .ok()
            .and_then(|t| arrow_cast::display::array_value_to_string(&t, 0).ok())
            .map_or(Value::Null, Value::String)
    }

    fn finish(mut self, rows: u64) -> Value {
        let mut s = Map::new();
        s.insert("nan_count".into(), json!(self.nulls));
        s.insert(
            "nan_proportion".into(),
            json!(if rows == 0 {
                0.0
            } else {
                self.nulls as f64 / rows as f64
            }),
        );
        let histogram = |c: &Col, show: &dyn Fn(f64) -> Value| {
            if c.n == 0 {
                return Value::Null;
            }
            json!({"hist": c.hist, "bin_edges": c.edges().into_iter().map(show).collect::<Vec<_>>()})
        };
        let column_type = match self.kind {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::Str => "string",
            Kind::List => "list",
            Kind::Time => "datetime",
            Kind::Other => "other",
        };
        match self.kind {
            Kind::Int | Kind::Float => {
                let median = self.median();
                if self.n > 0 {
                    s.insert("min".into(), self.number(self.min));
                    s.insert("max".into(), self.number(self.max));
                    s.insert("mean".into(), json!(self.mean));
                    s.insert("median".into(), json!(median));
                    let std = if self.n > 1 {
                        Some((self.m2 / (self.n - 1) as f64).sqrt())
                    } else {
                        None
                    };
                    s.insert("std".into(), json!(std));
                } else {
                    for k in ["min", "max", "mean", "median", "std"] {
                        s.insert(k.into(), Value::Null);
                    }
                }
                s.insert("histogram".into(), histogram(&self, &|v| self.number(v)));
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
                s.insert("length_histogram".into(), histogram(&self, &|v| self.number(v)));
            }
            Kind::List => {
                if self.n > 0 {
                    s.insert("min".into(), self.number(self.min));
                    s.insert("max".into(), self.number(self.max));
                    s.insert("mean".into(), json!(self.mean));
                }
                s.insert("length_histogram".into(), histogram(&self, &|v| self.number(v)));
            }
            Kind::Time => {
                if self.n > 0 {
                    s.insert("min".into(), self.time_text(self.min));
                    s.insert("max".into(), self.time_text(self.max));
                }
                s.insert("histogram".into(), histogram(&self, &|v| self.time_text(v)));
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
    use parquet::file::statistics::Statistics;
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
                let range = match stats {
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
                };
                match range {
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
/// batches; when it says so the work stops with [`InferError::Cancelled`].
pub fn column_statistics(paths: &[PathBuf], cancelled: &(dyn Fn() -> bool + Sync)) -> Result<Value, InferError> {
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
                        .map(|&i| Col::new(schema.field(i).name(), &types[i]))
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
        .filter(|&i| matches!(cols[i].kind, Kind::Int | Kind::Float | Kind::Time) && cols[i].n > 0 && !filled[i])
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
        let s = column_statistics(&[f1, f2], &|| false).unwrap();
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
