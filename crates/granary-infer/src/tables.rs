//! One version, one table per split: whether the files of a version hold the same table,
//! and the version's schema. Client (`granary dataset inspect|push`) and server (manifest
//! PUT) decide with this one function, so both give the same answer and the same words.
//!
//! Rules (stated in `docs/API.md`, "Schemas of a version"):
//! - Files hold the same table when they have the same column names (in any order) and each
//!   column's types agree: equal, or one of them `null` (a column with no value), or integer
//!   and floating point (read together as `double`). For json and jsonl files outside
//!   splits a column missing from some files is allowed: a key first seen in a later file
//!   is added, as within one file.
//! - A file naming a column twice is refused (a schema maps each name to one type).
//! - The version's schema is the unified schema of its files: the first file's column
//!   order, then columns first seen in later files.
//! - Files that are not the same table may be published together only when every file is
//!   the file of its own split: each split then has its own schema, and the version's
//!   schema is that of the default split (`train`, else the first split in file order),
//!   the one a download without a split returns.
//! - Files outside splits hold one format.

use granary_core::DataFormat;
use std::collections::{HashMap, HashSet};

/// One file of a version, as the table check sees it.
#[derive(Clone, Copy, Debug)]
pub struct TableFile<'a> {
    /// The file's path in the dataset.
    pub path: &'a str,
    /// The split the file is mapped to, if any.
    pub split: Option<&'a str>,
    /// The format the file is read as.
    pub format: DataFormat,
    /// The file's columns, (name, arrow type name as pyarrow prints it), in order.
    pub columns: &'a [(String, String)],
}

/// Why the files of a version cannot be published together: one line naming the files, the
/// columns or formats that differ, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TableMismatch(pub String);

/// The version's schema (name, type) from its files, in path order, or why they do not
/// belong together. See the module's rules.
pub fn version_schema(files: &[TableFile<'_>]) -> Result<Vec<(String, String)>, TableMismatch> {
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    // Files outside splits are read as one table: one format.
    let unsplit: Vec<&TableFile> = files.iter().filter(|f| f.split.is_none()).collect();
    if let Some(other) = unsplit.iter().find(|f| !same_reader(f.format, unsplit[0].format)) {
        return Err(TableMismatch(format!(
            "{} is {} but {} is {}: files outside splits are read as one table in one format; map each format's files to their own split (`splits:` in dataset.yaml), or publish them as separate datasets",
            unsplit[0].path, unsplit[0].format, other.path, other.format
        )));
    }
    // A schema maps each name to one type (the API's `{column: type}`).
    for f in files {
        let mut seen = HashSet::with_capacity(f.columns.len());
        if let Some((name, _)) = f.columns.iter().find(|(n, _)| !seen.insert(n.as_str())) {
            return Err(TableMismatch(format!(
                "{}: column {name:?} appears twice; a schema names each column once: rename one",
                f.path
            )));
        }
    }
    // Each column with the file its type was last set by, for messages.
    let mut unified = Columns::default();
    for (n, t) in first.columns {
        unified.push(n, t, first.path);
    }
    let mut mismatch = None;
    for f in &files[1..] {
        if let Err(m) = unify(&mut unified, first.path, f) {
            mismatch = Some(m);
            break;
        }
    }
    let Some((a, b, why)) = mismatch else {
        return Ok(unified.cols.into_iter().map(|(n, t, _)| (n, t)).collect());
    };
    if let Some(loose) = files.iter().find(|f| f.split.is_none()) {
        // Name the files of the conflict that are outside splits, else the first such file.
        let unsplit = |p: &str| files.iter().any(|f| f.path == p && f.split.is_none());
        let mut named: Vec<&str> = [a, b].into_iter().filter(|p| unsplit(p)).collect();
        if named.is_empty() {
            named.push(loose.path);
        }
        let target = if named.len() == 1 {
            "its own split"
        } else {
            "their own splits"
        };
        return Err(TableMismatch(format!(
            "{why}; files that hold different tables must each be their own split: map {} to {target} (`splits:` in dataset.yaml), or publish them as separate datasets",
            named.join(" and ")
        )));
    }
    let default = files.iter().find(|f| f.split == Some("train")).unwrap_or(first);
    Ok(default.columns.to_vec())
}

/// The columns of the files so far: name, type, the file that set the type; by name.
#[derive(Default)]
struct Columns<'a> {
    cols: Vec<(String, String, &'a str)>,
    index: HashMap<String, usize>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, name: &str, ty: &str, from: &'a str) {
        self.index.insert(name.to_string(), self.cols.len());
        self.cols.push((name.to_string(), ty.to_string(), from));
    }
}

/// Adds `f`'s columns to `acc`, or says how they differ: (earlier file, `f`'s path, a
/// phrase naming the columns). `first` is the version's first file. A json or jsonl file
/// outside splits may lack columns (a shard without a key); any other file has the same
/// column names as the files before it.
fn unify<'a>(acc: &mut Columns<'a>, first: &'a str, f: &TableFile<'a>) -> Result<(), (&'a str, &'a str, String)> {
    let lenient = matches!(f.format, DataFormat::Json | DataFormat::Jsonl) && f.split.is_none();
    let own: HashSet<&str> = f.columns.iter().map(|(n, _)| n.as_str()).collect();
    let missing: Vec<&(String, String, &str)> = acc
        .cols
        .iter()
        .filter(|(n, _, _)| !lenient && !own.contains(n.as_str()))
        .collect();
    let extra: Vec<&str> = f
        .columns
        .iter()
        .filter(|(n, _)| !lenient && !acc.index.contains_key(n))
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        // The earlier file named is one holding a column `f` lacks, else the first file.
        let other = missing.first().copied().or(acc.cols.first()).map_or(first, |c| c.2);
        let missing: Vec<&str> = missing.iter().map(|c| c.0.as_str()).collect();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("{other} has {} that {} lacks", names(&missing), f.path));
        }
        if !extra.is_empty() {
            parts.push(format!("{} has {} that {other} lacks", f.path, names(&extra)));
        }
        let why = format!("{other} and {} have different columns: {}", f.path, parts.join(", "));
        return Err((other, f.path, why));
    }
    for (name, ty) in f.columns {
        let Some(&i) = acc.index.get(name) else {
            acc.push(name, ty, f.path);
            continue;
        };
        let (_, have, from) = &mut acc.cols[i];
        match unify_type(have, ty) {
            Some(t) => {
                if t != *have {
                    *have = t;
                    *from = f.path;
                }
            }
            None => {
                let why = format!(
                    "{from} and {} differ in column {name:?}: {have} in {from}, {ty} in {}",
                    f.path, f.path
                );
                return Err((from, f.path, why));
            }
        }
    }
    Ok(())
}

/// Whether two schemas have the same columns with the same types, in any order.
pub fn same_columns(a: &[(String, String)], b: &[(String, String)]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let a: HashSet<&(String, String)> = a.iter().collect();
    b.iter().all(|c| a.contains(c))
}

/// Formats read into one table: equal, json with jsonl (a `.json` file may hold JSON lines),
/// arrow with feather (feather v2 is the arrow IPC file).
pub fn same_reader(a: DataFormat, b: DataFormat) -> bool {
    use DataFormat::*;
    a == b
        || matches!(
            (a, b),
            (Json | Jsonl, Json | Jsonl) | (Arrow | Feather, Arrow | Feather)
        )
}

/// A few column names for a message: `"a", "b", "c" and 4 more`.
fn names(list: &[&str]) -> String {
    let shown: Vec<String> = list.iter().take(4).map(|n| format!("{n:?}")).collect();
    let more = if list.len() > 4 {
        format!(" and {} more", list.len() - 4)
    } else {
        String::new()
    };
    format!(
        "column{} {}{more}",
        if list.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

const INTEGERS: &[&str] = &["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"];
const FLOATS: &[&str] = &["halffloat", "float", "double"];

/// Two files' types of one column as one type: equal, `null` with anything, integer with
/// floating point as `double`. `None` when they do not agree.
pub fn unify_type(a: &str, b: &str) -> Option<String> {
    if a == b || b == "null" {
        return Some(a.to_string());
    }
    if a == "null" {
        return Some(b.to_string());
    }
    let numeric = |t: &str| INTEGERS.contains(&t) || FLOATS.contains(&t);
    if numeric(a) && numeric(b) && (FLOATS.contains(&a) || FLOATS.contains(&b)) {
        return Some("double".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(spec: &[(&str, &str)]) -> Vec<(String, String)> {
        spec.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn file<'a>(path: &'a str, split: Option<&'a str>, columns: &'a [(String, String)]) -> TableFile<'a> {
        TableFile {
            path,
            split,
            format: DataFormat::from_path(path).unwrap(),
            columns,
        }
    }

    #[test]
    fn types_unify_by_the_stated_rules() {
        assert_eq!(unify_type("int64", "int64").as_deref(), Some("int64"));
        assert_eq!(unify_type("null", "string").as_deref(), Some("string"));
        assert_eq!(unify_type("date32[day]", "null").as_deref(), Some("date32[day]"));
        assert_eq!(unify_type("int64", "double").as_deref(), Some("double"));
        assert_eq!(unify_type("float", "int32").as_deref(), Some("double"));
        assert_eq!(unify_type("int32", "int64"), None);
        assert_eq!(unify_type("int64", "string"), None);
        assert_eq!(unify_type("timestamp[s]", "timestamp[ns]"), None);
    }

    #[test]
    fn shards_of_one_table_unify() {
        let a = cols(&[("id", "int64"), ("x", "null")]);
        let b = cols(&[("x", "double"), ("id", "int64")]);
        let c = cols(&[("id", "int64"), ("x", "int64")]);
        let files = [
            file("a.csv", None, &a),
            file("b.csv", None, &b),
            file("c.csv", None, &c),
        ];
        assert_eq!(
            version_schema(&files).unwrap(),
            cols(&[("id", "int64"), ("x", "double")])
        );
    }

    #[test]
    fn different_tables_outside_splits_are_refused_naming_files_and_columns() {
        let airports = cols(&[("faa", "string"), ("lat", "double")]);
        let airlines = cols(&[("carrier", "string"), ("name", "string")]);
        let files = [
            file("airlines.csv", None, &airlines),
            file("airports.csv", None, &airports),
        ];
        let e = version_schema(&files).unwrap_err().0;
        assert_eq!(
            e,
            "airlines.csv and airports.csv have different columns: airlines.csv has columns \"carrier\", \"name\" that airports.csv lacks, airports.csv has columns \"faa\", \"lat\" that airlines.csv lacks; files that hold different tables must each be their own split: map airlines.csv and airports.csv to their own splits (`splits:` in dataset.yaml), or publish them as separate datasets"
        );
        let a = cols(&[("code", "int64")]);
        let b = cols(&[("code", "string")]);
        let e = version_schema(&[file("a.csv", None, &a), file("b.csv", None, &b)])
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("a.csv and b.csv differ in column \"code\": int64 in a.csv, string in b.csv;"),
            "{e}"
        );
    }

    #[test]
    fn different_tables_as_splits_keep_their_own_schemas() {
        let train = cols(&[("q", "string")]);
        let test = cols(&[("id", "int64")]);
        let files = [file("a.csv", Some("test"), &test), file("b.csv", Some("train"), &train)];
        assert_eq!(version_schema(&files).unwrap(), train);
        // Without a train split, the first file's.
        let files = [file("a.csv", Some("x"), &test), file("b.csv", Some("y"), &train)];
        assert_eq!(version_schema(&files).unwrap(), test);
        // One file outside the splits: refused, naming it.
        let files = [file("a.csv", Some("x"), &test), file("b.csv", None, &train)];
        let e = version_schema(&files).unwrap_err().0;
        assert!(e.contains("map b.csv to its own split"), "{e}");
    }

    #[test]
    fn json_files_may_add_keys_but_csv_files_may_not() {
        let a = cols(&[("a", "int64")]);
        let b = cols(&[("a", "int64"), ("b", "string")]);
        let files = [file("1.jsonl", None, &a), file("2.jsonl", None, &b)];
        assert_eq!(version_schema(&files).unwrap(), b);
        let files = [file("2.jsonl", None, &b), file("3.jsonl", None, &a)];
        assert_eq!(version_schema(&files).unwrap(), b);
        let files = [file("1.csv", None, &a), file("2.csv", None, &b)];
        assert!(version_schema(&files).is_err());
    }

    #[test]
    fn json_splits_of_different_keys_keep_their_own_schemas() {
        let a = cols(&[("a", "int64")]);
        let z = cols(&[("zz", "string")]);
        let files = [file("a.jsonl", Some("train"), &a), file("b.jsonl", Some("test"), &z)];
        assert_eq!(version_schema(&files).unwrap(), a);
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let a = cols(&[("a", "int64"), ("a", "string")]);
        let e = version_schema(&[file("t.parquet", None, &a)]).unwrap_err().0;
        assert_eq!(
            e,
            "t.parquet: column \"a\" appears twice; a schema names each column once: rename one"
        );
    }

    #[test]
    fn formats_outside_splits_must_agree() {
        let a = cols(&[("a", "int64")]);
        let files = [file("a.csv", None, &a), file("b.jsonl", None, &a)];
        let e = version_schema(&files).unwrap_err().0;
        assert!(e.starts_with("a.csv is csv but b.jsonl is jsonl: "), "{e}");
        let files = [file("a.csv", Some("train"), &a), file("b.jsonl", Some("test"), &a)];
        assert_eq!(version_schema(&files).unwrap(), a);
    }
}
