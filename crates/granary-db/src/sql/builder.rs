//! SQL assembled at run time with `$1, $2, …` placeholders, which SQLite and PostgreSQL both
//! accept. (sqlx's `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL rejects.)
//! The method names follow `QueryBuilder`'s.
//!
//! sqlx keeps every statement it prepares in a per-connection cache (100 per connection) keyed
//! by its text. A statement with a list of placeholders (`push_list`, `push_values`) has a new
//! text for every list length: a download fold of N events is three statements of N
//! placeholders, N different at every fold, and a list page of N ids another. Cached, they fill
//! every connection's cache with large compiled statements that are rarely run again, and the
//! server's memory grows under steady load. Such statements are prepared for one run and
//! dropped; statements of fixed text stay cached.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryScalar};
use sqlx::Any;

/// A value bound to a placeholder.
#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

/// One row's values in `push_values`.
pub struct Columns(Vec<Arg>);

impl Columns {
    pub fn push_bind(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.0.push(v.into());
        self
    }
}

#[derive(Default)]
pub struct SqlBuilder {
    sql: String,
    args: Vec<Arg>,
    /// The text depends on a list's length: prepare it for this run only.
    one_off: bool,
}

impl SqlBuilder {
    pub fn new(sql: impl Into<String>) -> Self {
        SqlBuilder {
            sql: sql.into(),
            args: Vec::new(),
            one_off: false,
        }
    }

    pub fn push(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(sql.as_ref());
        self
    }

    pub fn push_bind(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.args.push(v.into());
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    /// `v1, v2, …` as placeholders.
    pub fn push_list<T: Into<Arg>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        self.one_off = true;
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(v);
        }
        self
    }

    /// `VALUES (…), (…)`: `row` binds one item's columns in order.
    pub fn push_values<I>(
        &mut self,
        items: impl IntoIterator<Item = I>,
        mut row: impl FnMut(&mut Columns, I),
    ) -> &mut Self {
        self.one_off = true;
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            let mut cols = Columns(Vec::new());
            row(&mut cols, item);
            let cols = cols.0;
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            for (j, c) in cols.into_iter().enumerate() {
                if j > 0 {
                    self.sql.push_str(", ");
                }
                self.push_bind(c);
            }
            self.sql.push(')');
        }
        self
    }

    pub fn build(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.sql).persistent(!self.one_off);
        for a in &self.args {
            q = match a {
                Arg::Text(v) => q.bind(v.clone()),
                Arg::OptText(v) => q.bind(v.clone()),
                Arg::Int(v) => q.bind(*v),
            };
        }
        q
    }

    pub fn build_query_scalar<T>(&self) -> QueryScalar<'_, Any, T, AnyArguments<'_>>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_scalar(&self.sql).persistent(!self.one_off);
        for a in &self.args {
            q = match a {
                Arg::Text(v) => q.bind(v.clone()),
                Arg::OptText(v) => q.bind(v.clone()),
                Arg::Int(v) => q.bind(*v),
            };
        }
        q
    }
}
