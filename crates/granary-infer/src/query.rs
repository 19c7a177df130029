//! Search and filter over parquet files (a split's originals or renditions), a batch at a
//! time: memory holds one batch and the page of rows asked for (with `order_by`, the best
//! `offset + length` rows so far), whatever the files' size.
//!
//! A filter is a `where` condition in the Hugging Face dataset viewer's syntax: comparisons
//! (`=`, `!=`/`<>`, `<`, `<=`, `>`, `>=`) of a column (bare, or `"double quoted"`) with a
//! literal (numbers, `'single quoted'` text, `true`, `false`), `IN (…)`, `IS [NOT] NULL`,
//! combined with `AND`, `OR`, `NOT` and parentheses; SQL's three-valued logic (a
//! comparison with null is unknown, and only true keeps a row). A search keeps rows where
//! any string column contains the text, ignoring case. Row groups whose statistics rule a
//! top-level `AND` comparison out are never read.

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, Scalar};
use arrow_schema::DataType;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::bounds::Budget;
use crate::InferError;
use keys::{key_of, Key};

mod keys;

/// A literal of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed `where` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        column: String,
        op: Op,
        lit: Lit,
    },
    In {
        column: String,
        list: Vec<Lit>,
        negated: bool,
    },
    IsNull {
        column: String,
        negated: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '\'' || c == '"' {
            // Quotes are escaped by doubling them, as in SQL.
            let mut text = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated {c}quoted{c} text")),
                    Some(&q) if q == c && b.get(i + 1) == Some(&c) => {
                        text.push(c);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if c == '"' { Tok::Ident(text) } else { Tok::Str(text) });
        } else if let Some(op) = ["<=", ">=", "!=", "<>", "=", "<", ">"]
            .into_iter()
            .find(|op| b[i..].iter().take(op.len()).copied().eq(op.chars()))
        {
            out.push(Tok::Op(op));
            i += op.len();
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '+' || c == '.') && b.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == '.'
                    || ((b[i] == '-' || b[i] == '+') && matches!(b[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Tok::Num(b[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected {c:?} at character {}", i + 1));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.peek_kw(kw);
        self.at += usize::from(hit);
        hit
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat_kw("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.eat_kw("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }
    fn lit(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => n
                .parse::<i64>()
                .map(Lit::Int)
                .or_else(|_| n.parse::<f64>().map(Lit::Float))
                .map_err(|_| format!("{n} is not a number")),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => {
                Err("compare with null by IS NULL or IS NOT NULL".into())
            }
            Some(other) => Err(format!(
                "expected a value ('text', a number, true or false), found {}",
                show(&other)
            )),
            None => Err("expected a value, found the end".into()),
        }
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Ident(column)) => {
                if self.eat_kw("is") {
                    let negated = self.eat_kw("not");
                    if !self.eat_kw("null") {
                        return Err(format!(
                            "expected NULL after IS{} for column {column:?}",
                            if negated { " NOT" } else { "" }
                        ));
                    }
                    return Ok(Expr::IsNull { column, negated });
                }
                let negated = self.eat_kw("not");
                if self.eat_kw("in") {
                    if self.next() != Some(Tok::LParen) {
                        return Err("expected ( after IN".into());
                    }
                    let mut list = vec![self.lit()?];
                    loop {
                        match self.next() {
                            Some(Tok::Comma) => list.push(self.lit()?),
                            Some(Tok::RParen) => break,
                            _ => return Err("expected , or ) in the IN list".into()),
                        }
                    }
                    return Ok(Expr::In { column, list, negated });
                }
                if negated {
                    return Err(format!("expected IN after NOT for column {column:?}"));
                }
                let op = match self.next() {
                    Some(Tok::Op(o)) => match o {
                        "=" => Op::Eq,
                        "!=" | "<>" => Op::Ne,
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        _ => Op::Ge,
                    },
                    _ => {
                        return Err(format!(
                            "expected a comparison (=, !=, <, <=, >, >=), IN or IS after column {column:?}"
                        ))
                    }
                };
                Ok(Expr::Cmp {
                    column,
                    op,
                    lit: self.lit()?,
                })
            }
            Some(other) => Err(format!("expected a column name, found {}", show(&other))),
            None if self.at > 1 => Err("expected a column name, found the end".into()),
            None => Err("the condition is empty".into()),
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.clone(),
        Tok::Op(o) => o.to_string(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
    }
}

/// The most `AND`, `OR` and `NOT` a condition may hold, and the deepest its parentheses
/// may nest: conditions are parsed and evaluated by recursion, whose depth these bound.
pub const MAX_CONDITION_OPERATORS: usize = 100;
pub const MAX_CONDITION_DEPTH: usize = 32;

/// Parses a `where` condition; the error says what is wrong, in one line. Errors also when
/// it holds more than [`MAX_CONDITION_OPERATORS`] operators or nests parentheses deeper
/// than [`MAX_CONDITION_DEPTH`].
pub fn parse_where(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let operators = toks
        .iter()
        .filter(|t| matches!(t, Tok::Ident(w) if ["and", "or", "not"].iter().any(|k| w.eq_ignore_ascii_case(k))))
        .count();
    if operators > MAX_CONDITION_OPERATORS {
        return Err(format!(
            "the condition has {operators} AND/OR/NOT; at most {MAX_CONDITION_OPERATORS} are allowed, so split the question or use IN (…)"
        ));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for t in &toks {
        match t {
            Tok::LParen => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Tok::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_CONDITION_DEPTH {
        return Err(format!(
            "the condition nests parentheses {deepest} deep; at most {MAX_CONDITION_DEPTH} levels are allowed"
        ));
    }
    let mut p = Parser { toks, at: 0 };
    let e = p.or()?;
    match p.toks.get(p.at) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the condition", show(t))),
    }
}

/// An `orderby` value: a column (bare or `"double quoted"`), optionally followed by `ASC`
/// or `DESC`; returns the column and whether descending.
pub fn parse_order_by(s: &str) -> (String, bool) {
    let s = s.trim();
    let (col, desc) = match s.rsplit_once(char::is_whitespace) {
        Some((c, d)) if d.eq_ignore_ascii_case("desc") => (c.trim(), true),
        Some((c, a)) if a.eq_ignore_ascii_case("asc") => (c.trim(), false),
        _ => (s, false),
    };
    (col.trim_matches('"').to_string(), desc)
}

impl Expr {
    /// Every column the condition names.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.columns();
                v.extend(b.columns());
                v
            }
            Expr::Not(a) => a.columns(),
            Expr::Cmp { column, .. } | Expr::In { column, .. } | Expr::IsNull { column, .. } => vec![column.as_str()],
        }
    }
}

/// A search, filter and order of a split's rows.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    /// Text any string column must contain (case-insensitive).
    pub search: Option<String>,
    /// A column and whether descending; nulls last either way.
    pub order_by: Option<(String, bool)>,
}

/// The most rows an ordered query may page through (`offset + length`).
pub const MAX_ORDERED_ROWS: u64 = 10_000;

/// What a query found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    /// Columns (name, arrow type name) of the rows.
    pub columns: Vec<(String, String)>,
    /// The page of rows asked for, each with its index in the split.
    pub rows: Vec<(u64, Map<String, Value>)>,
    /// Rows that match, among those read.
    pub total: u64,
    /// True when the time budget ran out before every row was read (`total` counts the
    /// rows read so far).
    pub partial: bool,
}

impl std::fmt::Display for Lit {
    /// The literal as it is written in a condition.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lit::Bool(b) => write!(f, "{b}"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x:?}"),
            Lit::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

fn lit_array(lit: &Lit) -> ArrayRef {
    match lit {
        Lit::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Lit::Int(i) => Arc::new(arrow_array::Int64Array::from(vec![*i])),
        Lit::Float(f) => Arc::new(arrow_array::Float64Array::from(vec![*f])),
        Lit::Str(s) => Arc::new(arrow_array::StringArray::from(vec![s.as_str()])),
    }
}

/// Three-valued truth per row.
type Truth = Vec<Option<bool>>;

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch.column_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        format!("no column {name:?}; the columns are {}", names.join(", "))
    })
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_)
    )
}

/// The type a column of type `t` is compared as against `lit`, when not its own: numbers
/// meet a float literal (and decimals meet any number) as float64.
fn compared_as(t: &DataType, lit: &Lit) -> Option<DataType> {
    match (t, lit) {
        (DataType::Dictionary(_, v), _) => Some(compared_as(v, lit).unwrap_or_else(|| (**v).clone())),
        (t, Lit::Int(_) | Lit::Float(_))
            if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            Some(DataType::Float64)
        }
        (t, Lit::Float(_)) if t.is_integer() => Some(DataType::Float64),
        _ => None,
    }
}

/// `lit` as a value of type `t`: an array of it when an arrow comparison kernel can take it,
/// and its key. Err carries a hint for the error message.
fn literal(t: &DataType, lit: &Lit) -> Result<(Option<ArrayRef>, Key), &'static str> {
    use crate::csv_types::{parse_temporal, Temporal};
    const NS: i128 = 1_000_000_000;
    match (t, lit) {
        (DataType::Boolean, Lit::Bool(b)) => Ok((Some(lit_array(lit)), Key::Bool(*b))),
        (DataType::Boolean, Lit::Str(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            literal(t, &Lit::Bool(s.eq_ignore_ascii_case("true")))
        }
        (DataType::Boolean, _) => Err("; write true or false"),
        (t, Lit::Str(s)) if is_temporal(t) => {
            let time = matches!(t, DataType::Time32(_) | DataType::Time64(_));
            let key = match parse_temporal(s.trim().as_bytes()) {
                Some(Temporal::Time(secs)) if time => Some(i128::from(secs) * NS),
                Some(Temporal::Date(days)) if !time => Some(i128::from(days) * 86_400 * NS),
                Some(Temporal::Stamp { secs, nanos, .. }) if !time => {
                    Some(i128::from(secs) * NS + i128::from(nanos.unwrap_or(0)))
                }
                _ => None,
            };
            match key {
                Some(k) => Ok((None, Key::Int(k))),
                // Other spellings arrow reads (fractions of a second in a time, say).
                None => strict_cast(&lit_array(lit), t)
                    .map(|a| (None, key_of(a.as_ref(), 0, usize::MAX)))
                    .ok_or(if time {
                        " (write a time as 'HH:MM:SS')"
                    } else {
                        " (write it as 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS', optionally with a zone)"
                    }),
            }
        }
        (t, _) if is_temporal(t) => {
            Err(" (compare it with text, such as '2020-01-31', '2020-01-31T10:20:00' or '10:20:00')")
        }
        (t, _) => strict_cast(&lit_array(lit), t)
            .map(|a| {
                let k = key_of(a.as_ref(), 0, usize::MAX);
                (Some(a), k)
            })
            .ok_or(""),
    }
}

fn strict_cast(a: &ArrayRef, t: &DataType) -> Option<ArrayRef> {
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow_cast::cast_with_options(a, t, &options).ok()
}

/// The column as compared with `lit` (see [`compared_as`]).
fn left_side(col: &ArrayRef, lit: &Lit) -> Result<ArrayRef, String> {
    match compared_as(col.data_type(), lit) {
        Some(t) => arrow_cast::cast(col, &t).map_err(|e| e.to_string()),
        None => Ok(col.clone()),
    }
}

fn refuse(col: &ArrayRef, lit: &Lit, name: &str, hint: &str) -> String {
    format!(
        "column {name:?} is {}; {lit} is not a value of it{hint}",
        crate::arrow_type_name(col.data_type())
    )
}

/// Whether arrow's comparison kernels compare type `t` as a condition does (floats do not:
/// they order NaN above all and `-0.0` below `0.0`; temporal literals are read here).
fn kernel_compares(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

fn compare(col: &ArrayRef, op: Op, lit: &Lit, name: &str) -> Result<Truth, String> {
    let left = left_side(col, lit)?;
    let (right, key) = literal(left.data_type(), lit).map_err(|hint| refuse(col, lit, name, hint))?;
    if let Some(right) = right.filter(|_| kernel_compares(left.data_type())) {
        let scalar = Scalar::new(right);
        let out = match op {
            Op::Eq => arrow_ord::cmp::eq(&left, &scalar),
            Op::Ne => arrow_ord::cmp::neq(&left, &scalar),
            Op::Lt => arrow_ord::cmp::lt(&left, &scalar),
            Op::Le => arrow_ord::cmp::lt_eq(&left, &scalar),
            Op::Gt => arrow_ord::cmp::gt(&left, &scalar),
            Op::Ge => arrow_ord::cmp::gt_eq(&left, &scalar),
        }
        .map_err(|e| format!("column {name:?} cannot be compared so: {e}"))?;
        return Ok(out.iter().collect());
    }
    Ok((0..left.len())
        .map(|i| key_of(left.as_ref(), i, usize::MAX).compare(op, &key))
        .collect())
}

/// `IN (…)`: as an OR of `=` comparisons, by one hash lookup per row whatever the list's
/// length.
fn member(col: &ArrayRef, list: &[Lit], name: &str) -> Result<Truth, String> {
    // The literals grouped by the type the column is compared with them as.
    let mut sets: Vec<(Option<DataType>, ArrayRef, std::collections::HashSet<Key>)> = Vec::new();
    for lit in list {
        let target = compared_as(col.data_type(), lit);
        let at = match sets.iter().position(|s| s.0 == target) {
            Some(at) => at,
            None => {
                sets.push((target, left_side(col, lit)?, Default::default()));
                sets.len() - 1
            }
        };
        let (_, key) = literal(sets[at].1.data_type(), lit).map_err(|hint| refuse(col, lit, name, hint))?;
        sets[at].2.insert(key);
    }
    let nulls = col.logical_nulls();
    Ok((0..col.len())
        .map(|i| {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                return None;
            }
            Some(
                sets.iter()
                    .any(|(_, left, set)| set.contains(&key_of(left.as_ref(), i, usize::MAX))),
            )
        })
        .collect())
}

fn eval(e: &Expr, batch: &RecordBatch) -> Result<Truth, String> {
    Ok(match e {
        Expr::And(a, b) => eval(a, batch)?
            .into_iter()
            .zip(eval(b, batch)?)
            .map(|(x, y)| match (x, y) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            })
            .collect(),
        Expr::Or(a, b) => eval(a, batch)?
            .into_iter()
            .zip(eval(b, batch)?)
            .map(|(x, y)| match (x, y) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            })
            .collect(),
        Expr::Not(a) => eval(a, batch)?.into_iter().map(|x| x.map(|b| !b)).collect(),
        Expr::Cmp { column: c, op, lit } => compare(column(batch, c)?, *op, lit, c)?,
        Expr::In {
            column: c,
            list,
            negated,
        } => {
            let acc = member(column(batch, c)?, list, c)?;
            if *negated {
                acc.into_iter().map(|x| x.map(|b| !b)).collect()
            } else {
                acc
            }
        }
        Expr::IsNull { column: c, negated } => {
            let nulls = column(batch, c)?.logical_nulls();
            (0..batch.num_rows())
                .map(|i| Some(nulls.as_ref().is_some_and(|n| n.is_null(i)) != *negated))
                .collect()
        }
    })
}

/// Whether a row group may hold rows the filter keeps: false only when a comparison that
/// every kept row must pass (a top-level `AND` term) is impossible by the group's min/max.
fn may_match(e: &Expr, rg: &RowGroupMetaData) -> bool {
    match e {
        Expr::And(a, b) => may_match(a, rg) && may_match(b, rg),
        Expr::Cmp { column, op, lit } => {
            let Some(c) = rg
                .columns()
                .iter()
                .find(|c| c.column_path().parts() == [column.clone()])
            else {
                return true;
            };
            let Some(stats) = c.statistics() else { return true };
            // Integer columns of logical types (dates, decimals, times) are not compared here.
            if c.column_descr().logical_type_ref().is_some() {
                return true;
            }
            // Integers are compared exactly (as i128), not through f64, which rounds past 2^53.
            let ints: Option<(i128, i128)> = match stats {
                Statistics::Int32(s) => s
                    .min_opt()
                    .zip(s.max_opt())
                    .map(|(a, b)| (i128::from(*a), i128::from(*b))),
                Statistics::Int64(s) => s
                    .min_opt()
                    .zip(s.max_opt())
                    .map(|(a, b)| (i128::from(*a), i128::from(*b))),
                _ => None,
            };
            if let Some((min, max)) = ints {
                let Lit::Int(v) = lit else { return true };
                let v = i128::from(*v);
                return match op {
                    Op::Eq => min <= v && v <= max,
                    Op::Ne => !(min == v && max == v),
                    Op::Lt => min < v,
                    Op::Le => min <= v,
                    Op::Gt => max > v,
                    Op::Ge => max >= v,
                };
            }
            let range = match stats {
                Statistics::Float(_) | Statistics::Double(_) => crate::stats::footer_range(stats),
                _ => None,
            };
            let v = match lit {
                Lit::Int(i) => *i as f64,
                Lit::Float(f) => *f,
                _ => return true,
            };
            match range {
                None => true,
                Some((min, max)) if min.is_nan() || max.is_nan() => true,
                // Footer statistics leave NaN out, and NaN passes no comparison but `!=`.
                Some((min, max)) => match op {
                    Op::Eq => min <= v && v <= max,
                    Op::Ne => true,
                    Op::Lt => min < v,
                    Op::Le => min <= v,
                    Op::Gt => max > v,
                    Op::Ge => max >= v,
                },
            }
        }
        _ => true,
    }
}

fn search_truth(batch: &RecordBatch, needle: &str) -> Truth {
    let mut hit = vec![Some(false); batch.num_rows()];
    for col in batch.columns() {
        let text = match col.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
                match arrow_cast::cast(col, &DataType::Utf8) {
                    Ok(t) => t,
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        let s = text.as_any().downcast_ref::<arrow_array::StringArray>().expect("utf8");
        for (h, v) in hit.iter_mut().zip(s.iter()) {
            if *h != Some(true) && v.is_some_and(|v| contains_ignoring_case(v, needle)) {
                *h = Some(true);
            }
        }
    }
    hit
}

/// Whether `hay` contains `needle` (already lowercase), ignoring case: byte by byte when
/// both are ASCII, else by lowercasing `hay`.
fn contains_ignoring_case(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle)
}

fn row_of(batch: &RecordBatch, i: usize) -> Map<String, Value> {
    let mut row = Map::with_capacity(batch.num_columns());
    for (f, c) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        let mut v = crate::values::cell(c.as_ref(), i);
        crate::preview::shorten(&mut v);
        row.insert(f.name().clone(), v);
    }
    row
}

/// Runs `q` over `inputs` (a split's parquet files, in order, each read through the
/// budget's checks), returning rows `offset..offset + length` of the matches. Past the
/// budget's time the scan stops and the result is `partial`. Errors: a condition naming a
/// column the files lack or comparing it with a value of another type
/// ([`InferError::Parquet`] carrying the reason), and unreadable files.
pub fn query_parquet<R: ChunkReader + 'static>(
    inputs: Vec<R>,
    q: &Query,
    offset: u64,
    length: usize,
    budget: Arc<Budget>,
) -> Result<Found, InferError> {
    crate::guarded(InferError::Parquet, || {
        query_inner(inputs, q, offset, length, budget.clone())
    })
}

/// Threads a scan runs on.
const SCAN_THREADS: usize = 2;

/// A match's place: (file, row group, row in the group, row index in the split).
type At = (usize, usize, usize, u64);

/// One opened file: its source, reader metadata, the scan's projection, its groups' first
/// row indexes.
struct Opened<R: ChunkReader + 'static> {
    source: crate::preview::Bounded<R>,
    meta: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    mask: parquet::arrow::ProjectionMask,
    starts: Vec<u64>,
}

/// `batch` with its dictionary columns cast to their values' type, so a column compares,
/// orders and matches alike whether its file stored it as a dictionary or not.
fn plain(batch: RecordBatch) -> RecordBatch {
    if !batch
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Dictionary(..)))
    {
        return batch;
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        match (c.data_type(), f.data_type()) {
            (DataType::Dictionary(_, v), _) if arrow_cast::can_cast_types(c.data_type(), v) => {
                match arrow_cast::cast(c, v) {
                    Ok(values) => {
                        fields.push(f.as_ref().clone().with_data_type((**v).clone()));
                        columns.push(values);
                    }
                    Err(_) => return batch,
                }
            }
            _ => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap_or(batch)
}

/// Reads row group `g` of `o` (projected), calling `hit(row_in_group, batch, i)` for each
/// row the query keeps. Returns false when the budget, or `until`, stopped it.
fn scan_group<R: ChunkReader + 'static>(
    o: &Opened<R>,
    g: usize,
    q: &Query,
    needle: Option<&str>,
    budget: &Budget,
    until: Option<std::time::Instant>,
    mut hit: impl FnMut(usize, &RecordBatch, usize) -> Result<(), InferError>,
) -> Result<bool, InferError> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::new_with_metadata(
        o.source.clone(),
        o.meta.clone(),
    )
    .with_row_groups(vec![g])
    .with_projection(o.mask.clone())
    .with_batch_size(8192)
    .build()
    .map_err(|e| InferError::Parquet(e.to_string()))?;
    let mut row_in_group = 0usize;
    for batch in reader {
        let out_of_time = || budget.check().is_err() || until.is_some_and(|u| std::time::Instant::now() >= u);
        if out_of_time() {
            return Ok(false);
        }
        // A read that failed because the time ran out stops the scan; others are errors.
        let batch = match batch {
            Ok(b) => plain(b),
            Err(_) if out_of_time() => return Ok(false),
            Err(e) => return Err(InferError::Parquet(e.to_string())),
        };
        let mut keep_row: Truth = vec![Some(true); batch.num_rows()];
        if let Some(f) = &q.filter {
            keep_row = eval(f, &batch).map_err(InferError::Parquet)?;
        }
        if let Some(n) = needle {
            for (k, s) in keep_row.iter_mut().zip(search_truth(&batch, n)) {
                *k = match (*k, s) {
                    (Some(true), Some(true)) => Some(true),
                    _ => Some(false),
                };
            }
        }
        for (i, k) in keep_row.iter().enumerate() {
            if *k == Some(true) {
                hit(row_in_group + i, &batch, i)?;
            }
        }
        row_in_group += batch.num_rows();
    }
    Ok(true)
}

/// Text and binary `orderby` keys keep their first this many bytes (rows that tie on
/// them go by row index): a query holds at most [`MAX_ORDERED_ROWS`] keys per thread.
const ORDER_KEY_BYTES: usize = 1024;

/// A match kept for an ordered page: greater is worse, so a max-heap's top is the match to
/// drop first.
struct Ranked {
    key: Key,
    desc: bool,
    at: At,
}

impl Ord for Ranked {
    /// By key (see [`keys`]); ties by row index, so the rows kept do not depend on which
    /// thread found them first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.order(&other.key, self.desc).then(self.at.3.cmp(&other.at.3))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Ranked {}

/// Keeps the best `keep` matches: O(log keep) a row.
fn keep_best(best: &mut std::collections::BinaryHeap<Ranked>, keep: usize, r: Ranked) {
    if best.len() < keep {
        best.push(r);
    } else if best.peek().is_some_and(|worst| r < *worst) {
        best.pop();
        best.push(r);
    }
}

fn query_inner<R: ChunkReader + 'static>(
    inputs: Vec<R>,
    q: &Query,
    offset: u64,
    length: usize,
    budget: Arc<Budget>,
) -> Result<Found, InferError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let needle = q.search.as_ref().map(|s| s.to_lowercase());
    // The first pass stops at four fifths of the time left, keeping the rest to read the
    // page's rows.
    let scan_until = budget.time_left().map(|t| std::time::Instant::now() + t.mul_f64(0.8));
    let mut found = Found::default();
    let keep = (offset + length as u64) as usize;
    // Open every file; the groups to scan, in split order.
    let mut opened: Vec<Opened<R>> = Vec::new();
    let mut work: Vec<(usize, usize)> = Vec::new();
    let mut base = 0u64;
    for (file, input) in inputs.into_iter().enumerate() {
        let meta = crate::preview::read_footer(&input, &budget)?;
        for g in 0..meta.num_row_groups() {
            if q.filter.as_ref().is_none_or(|f| may_match(f, meta.row_group(g))) {
                work.push((file, g));
            }
        }
        let starts: Vec<u64> = meta
            .row_groups()
            .iter()
            .scan(base, |acc, rg| {
                let s = *acc;
                *acc += rg.num_rows().max(0) as u64;
                Some(s)
            })
            .collect();
        base += meta
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows().max(0) as u64)
            .sum::<u64>();
        let (source, arrow_meta, schema) = crate::preview::bounded_source(input, meta, budget.clone())?;
        if found.columns.is_empty() {
            found.columns = schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), crate::types::field_type_name(f)))
                .collect();
        }
        let reader_schema = arrow_meta.schema().clone();
        let named = q
            .filter
            .as_ref()
            .map(Expr::columns)
            .unwrap_or_default()
            .into_iter()
            .chain(q.order_by.as_ref().map(|(c, _)| c.as_str()));
        for name in named {
            if reader_schema.field_with_name(name).is_err() {
                let names: Vec<&str> = reader_schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(InferError::Parquet(format!(
                    "no column {name:?}; the columns are {}",
                    names.join(", ")
                )));
            }
        }
        // The scan reads only the columns the condition, the search and the order need.
        let mut wanted: Vec<usize> = Vec::new();
        for (i, f) in reader_schema.fields().iter().enumerate() {
            let by_name = q
                .filter
                .as_ref()
                .is_some_and(|e| e.columns().contains(&f.name().as_str()))
                || q.order_by.as_ref().is_some_and(|(c, _)| c == f.name());
            let text = needle.is_some()
                && matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
                );
            if by_name || text {
                wanted.push(i);
            }
        }
        let mask = ProjectionMask::roots(arrow_meta.metadata().file_metadata().schema_descr(), wanted);
        opened.push(Opened {
            source,
            meta: arrow_meta,
            mask,
            starts,
        });
    }

    // Pass one, on every thread: each group's matches counted (and the best rows kept when
    // ordering).
    let counts: Mutex<Vec<(usize, usize, u64)>> = Mutex::new(Vec::new());
    let best: Mutex<std::collections::BinaryHeap<Ranked>> = Mutex::new(Default::default());
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let failure: Mutex<Option<InferError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..SCAN_THREADS.min(work.len().max(1)) {
            scope.spawn(|| {
                let mut mine = std::collections::BinaryHeap::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(file, g)) = work.get(k) else { break };
                    if stopped.load(Ordering::Relaxed) || failure.lock().expect("not poisoned").is_some() {
                        break;
                    }
                    let o = &opened[file];
                    let mut n = 0u64;
                    let r = scan_group(o, g, q, needle.as_deref(), &budget, scan_until, |row, batch, i| {
                        n += 1;
                        if let Some((col, desc)) = &q.order_by {
                            let key = key_of(
                                column(batch, col).map_err(InferError::Parquet)?.as_ref(),
                                i,
                                ORDER_KEY_BYTES,
                            );
                            let at = (file, g, row, o.starts[g] + row as u64);
                            keep_best(&mut mine, keep, Ranked { key, desc: *desc, at });
                        }
                        Ok(())
                    });
                    match r {
                        Ok(true) => counts.lock().expect("not poisoned").push((file, g, n)),
                        Ok(false) => {
                            stopped.store(true, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            *failure.lock().expect("not poisoned") = Some(e);
                            break;
                        }
                    }
                }
                let mut all = best.lock().expect("not poisoned");
                for r in mine {
                    keep_best(&mut all, keep, r);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    found.partial = stopped.into_inner();
    let mut counts = counts.into_inner().expect("not poisoned");
    counts.sort_unstable();
    // Only groups counted in full are in the total (and the pages), so a partial answer is
    // a consistent prefix of the groups it read.
    found.total = counts.iter().map(|c| c.2).sum();

    let page: Vec<At> = if q.order_by.is_some() {
        best.into_inner()
            .expect("not poisoned")
            .into_sorted_vec()
            .into_iter()
            .skip(offset as usize)
            .take(length)
            .map(|r| r.at)
            .collect()
    } else {
        // Pass two: the groups that hold ranks offset..offset + length, scanned again in
        // order for the rows themselves.
        let mut page = Vec::new();
        let mut before = 0u64;
        for &(file, g, n) in &counts {
            let end = before + n;
            if end > offset && before < offset + length as u64 && page.len() < length {
                let o = &opened[file];
                let mut rank = before;
                scan_group(o, g, q, needle.as_deref(), &budget, None, |row, _, _| {
                    if rank >= offset && page.len() < length {
                        page.push((file, g, row, o.starts[g] + row as u64));
                    }
                    rank += 1;
                    Ok(())
                })?;
            }
            before = end;
        }
        page
    };
    // The page's rows, whole: each row group that holds one is read once.
    let mut groups: Vec<(usize, usize)> = page.iter().map(|a| (a.0, a.1)).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut rows: std::collections::HashMap<(usize, usize, usize), Map<String, Value>> = Default::default();
    for (file, g) in groups {
        let o = &opened[file];
        let mut want: Vec<usize> = page.iter().filter(|a| a.0 == file && a.1 == g).map(|a| a.2).collect();
        want.sort_unstable();
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(o.source.clone(), o.meta.clone())
            .with_row_groups(vec![g])
            .with_batch_size(8192)
            .build()
            .map_err(perr)?;
        let mut first = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| InferError::Parquet(e.to_string()))?;
            let end = first + batch.num_rows();
            for &r in want.iter().filter(|&&r| r >= first && r < end) {
                rows.insert((file, g, r), row_of(&batch, r - first));
            }
            first = end;
            if want.last().is_none_or(|&last| last < first) {
                break;
            }
        }
    }
    found.rows = page
        .into_iter()
        .filter_map(|(f, g, r, idx)| rows.remove(&(f, g, r)).map(|row| (idx, row)))
        .collect();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_too_deep_or_long_are_refused_before_they_recurse() {
        let deep = format!("{}a = 1{}", "(".repeat(3000), ")".repeat(3000));
        assert_eq!(
            parse_where(&deep).unwrap_err(),
            "the condition nests parentheses 3000 deep; at most 32 levels are allowed"
        );
        let long = vec!["a = 1"; 6000].join(" AND ");
        assert_eq!(
            parse_where(&long).unwrap_err(),
            "the condition has 5999 AND/OR/NOT; at most 100 are allowed, so split the question or use IN (…)"
        );
        assert_eq!(
            parse_where(&format!("{}a = 1", "NOT ".repeat(10_000))).unwrap_err(),
            "the condition has 10000 AND/OR/NOT; at most 100 are allowed, so split the question or use IN (…)"
        );
        // At the limits: parsed.
        assert!(parse_where(&format!("{}a = 1{}", "(".repeat(32), ")".repeat(32))).is_ok());
        assert!(parse_where(&vec!["a = 1"; 101].join(" OR ")).is_ok());
    }

    /// Row groups are passed over by exact integer bounds: past 2^53 an f64 rounds the
    /// bound onto the group's maximum and would drop its last row.
    #[test]
    fn integer_bounds_prune_exactly() {
        use arrow_array::{Int64Array, RecordBatch};
        let base = 1_500_000_000_000_000_000i64;
        let ids: Vec<i64> = (0..300).map(|i| base + i).collect();
        let batch = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(ids)) as ArrayRef)]).unwrap();
        let mut buf = Vec::new();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_size(100)
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let bytes = bytes::Bytes::from(buf);
        for (cond, want) in [
            (format!("id > {}", base + 98), 201),
            (format!("id >= {}", base + 99), 201),
            (format!("id < {}", base + 101), 101),
            (format!("id = {}", base + 99), 1),
            (format!("id > {}", i64::MAX - 1), 0),
        ] {
            let q = Query {
                filter: Some(parse_where(&cond).unwrap()),
                ..Query::default()
            };
            let found = query_parquet(
                vec![bytes.clone()],
                &q,
                0,
                10,
                Arc::new(Budget::new(u64::MAX / 2, None)),
            )
            .unwrap();
            assert_eq!(found.total, want, "{cond}");
        }
    }

    #[test]
    fn conditions_parse() {
        let e = parse_where("\"a b\" >= 3 AND (name = 'it''s' OR x IN (1, 2.5)) AND NOT y IS NULL").unwrap();
        assert_eq!(e.columns(), ["a b", "name", "x", "y"]);
        assert_eq!(
            parse_where("n < -1.5e3").unwrap(),
            Expr::Cmp {
                column: "n".into(),
                op: Op::Lt,
                lit: Lit::Float(-1500.0)
            }
        );
        assert_eq!(
            parse_where("a = null").unwrap_err(),
            "compare with null by IS NULL or IS NOT NULL"
        );
        assert_eq!(
            parse_where("a = 1 b").unwrap_err(),
            "unexpected \"b\" after the condition"
        );
        assert_eq!(parse_where("(a = 1").unwrap_err(), "a parenthesis is not closed");
        assert_eq!(parse_where("a ~ 1").unwrap_err(), "unexpected '~' at character 3");
        assert_eq!(parse_where("").unwrap_err(), "the condition is empty");
        assert_eq!(
            parse_where("a = 1 AND").unwrap_err(),
            "expected a column name, found the end"
        );
        assert_eq!(parse_order_by(" \"a b\"  DESC "), ("a b".to_string(), true));
        assert_eq!(parse_order_by("x asc"), ("x".to_string(), false));
        assert_eq!(parse_order_by("x"), ("x".to_string(), false));
    }
}
