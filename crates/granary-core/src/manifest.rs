//! The two documents a publish carries: the OCI image manifest and its config blob, the
//! dataset manifest. Also the rules the server applies to them that need no IO.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::Digest;

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_DATASET_CONFIG: &str = "application/vnd.dreadnode.config.v1+json";
pub const ANN_TYPE: &str = "io.dreadnode.type";
pub const ANN_NAME: &str = "io.dreadnode.name";
pub const ANN_VERSION: &str = "io.dreadnode.version";

/// An OCI content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest, as pushed to `…/manifests/{version}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OciManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The dataset manifest: the config blob of a dataset's OCI image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct DatasetManifest {
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    #[serde(default)]
    pub artifacts_hash: Option<String>,
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default)]
    pub data_schema: Map<String, Value>,
    #[serde(default)]
    pub row_count: Option<i64>,
    #[serde(default)]
    pub splits: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub summary: Option<String>,
    /// The dataset card, markdown (a granary extension; absent from other clients' configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub pretty_name: Option<String>,
    #[serde(default)]
    pub language: Option<Vec<String>>,
    #[serde(default)]
    pub task_categories: Option<Vec<String>>,
    #[serde(default)]
    pub size_category: Option<String>,
    #[serde(default)]
    pub origin: Option<Map<String, Value>>,
}

fn default_format() -> String {
    "parquet".to_string()
}

/// The file formats a dataset may be published in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataFormat {
    Parquet,
    Csv,
    Json,
    Jsonl,
    Arrow,
    Feather,
}

impl DataFormat {
    pub const ALL: [DataFormat; 6] = [
        DataFormat::Parquet,
        DataFormat::Csv,
        DataFormat::Json,
        DataFormat::Jsonl,
        DataFormat::Arrow,
        DataFormat::Feather,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Parquet => "parquet",
            DataFormat::Csv => "csv",
            DataFormat::Json => "json",
            DataFormat::Jsonl => "jsonl",
            DataFormat::Arrow => "arrow",
            DataFormat::Feather => "feather",
        }
    }

    /// The format a file's extension names, if it names one.
    pub fn from_path(path: &str) -> Option<DataFormat> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        ext.parse().ok()
    }
}

impl FromStr for DataFormat {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ManifestError::Format(s.to_string()))
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("unsupported format {0:?}: expected one of parquet, csv, json, jsonl, arrow, feather")]
    Format(String),
    #[error("unsafe artifact path {0:?}: paths must be relative and stay inside the dataset")]
    UnsafePath(String),
    #[error("size_category {0:?} is not one of n<1K, 1K<n<10K, 10K<n<100K, 100K<n<1M, 1M<n<10M, 10M<n<100M, 100M<n<1B, n>1B")]
    SizeCategory(String),
    #[error("a split name is empty: name each split (train, test, …)")]
    EmptySplit,
    #[error("{path} is mapped to two splits ({first} and {second}): a file belongs to one split")]
    FileInTwoSplits {
        path: String,
        first: String,
        second: String,
    },
}

/// Rejects absolute paths, `..`, `.` and empty components, backslashes and control characters.
pub fn validate_artifact_path(path: &str) -> Result<(), ManifestError> {
    let bad = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(|c| c.is_control())
        || path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || path.as_bytes().get(1) == Some(&b':');
    if bad {
        Err(ManifestError::UnsafePath(path.to_string()))
    } else {
        Ok(())
    }
}

pub const SIZE_CATEGORIES: [&str; 8] = [
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "n>1B",
];

/// The size category of a dataset with `rows` rows (the Hugging Face buckets).
pub fn size_category(rows: u64) -> &'static str {
    let mut bound = 1_000u64;
    for cat in &SIZE_CATEGORIES[..7] {
        if rows < bound {
            return cat;
        }
        bound = bound.saturating_mul(10);
    }
    SIZE_CATEGORIES[7]
}

/// Checks a `splits` map (split → file): names are not empty and no file is the file of two
/// splits (a file's rows, schema and preview belong to one split).
pub fn validate_splits(splits: &BTreeMap<String, String>) -> Result<(), ManifestError> {
    let mut split_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (split, path) in splits {
        if split.is_empty() {
            return Err(ManifestError::EmptySplit);
        }
        if let Some(first) = split_of.insert(path, split) {
            return Err(ManifestError::FileInTwoSplits {
                path: path.clone(),
                first: first.to_string(),
                second: split.clone(),
            });
        }
    }
    Ok(())
}

pub fn validate_size_category(cat: &str) -> Result<(), ManifestError> {
    if SIZE_CATEGORIES.contains(&cat) {
        Ok(())
    } else {
        Err(ManifestError::SizeCategory(cat.to_string()))
    }
}

/// `artifacts_hash`: the sha256 of the artifact map serialised as Python's
/// `json.dumps(artifacts, sort_keys=True)` does (", " and ": " separators, non-ASCII
/// escaped), so that hashes computed by other clients compare equal.
pub fn artifacts_hash(artifacts: &BTreeMap<String, String>) -> Digest {
    let mut out = String::from("{");
    for (i, (k, v)) in artifacts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        py_json_str(&mut out, k);
        out.push_str(": ");
        py_json_str(&mut out, v);
    }
    out.push('}');
    Digest::of(out.as_bytes())
}

fn py_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_free_fields_survive_a_round_trip() {
        // A number with more digits than an f64 holds is read as the nearest f64, and
        // written back as text that reads as the same f64 (serde_json's `float_roundtrip`):
        // what the server stores of `origin` reads back as the value it was given.
        let big = format!("7{}69", "5".repeat(128));
        for n in [
            big.as_str(),
            "0.1",
            "1e308",
            "2.2250738585072014e-308",
            "0.30000000000000004",
        ] {
            let text = format!(r#"{{"artifacts": {{}}, "format": "parquet", "origin": {{"size": {n}}}}}"#);
            let m: DatasetManifest = serde_json::from_str(&text).unwrap();
            let again: DatasetManifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            assert_eq!(again, m, "{n}");
        }
    }

    #[test]
    fn size_categories() {
        assert_eq!(size_category(0), "n<1K");
        assert_eq!(size_category(999), "n<1K");
        assert_eq!(size_category(1_000), "1K<n<10K");
        assert_eq!(size_category(99_999), "10K<n<100K");
        assert_eq!(size_category(999_999_999), "100M<n<1B");
        assert_eq!(size_category(1_000_000_000), "n>1B");
        assert_eq!(size_category(u64::MAX), "n>1B");
    }

    #[test]
    fn artifact_paths() {
        for ok in ["train.parquet", "data/train-0001.parquet", "a..b.csv"] {
            assert_eq!(validate_artifact_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "C:x",
            "a\nb",
        ] {
            assert!(validate_artifact_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn artifacts_hash_matches_python() {
        // python3 -c 'import json,hashlib;print(hashlib.sha256(json.dumps({"b.csv":"sha256:2","a.parquet":"sha256:1","é":"x"},sort_keys=True).encode()).hexdigest())'
        let mut m = BTreeMap::new();
        m.insert("b.csv".to_string(), "sha256:2".to_string());
        m.insert("a.parquet".to_string(), "sha256:1".to_string());
        m.insert("é".to_string(), "x".to_string());
        assert_eq!(
            artifacts_hash(&m).to_string(),
            "sha256:cad4109579537e28b27ac46918510477bfbf7a7ce40622c64aebffd9ce32d704"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(DataFormat::from_path("x/train.PARQUET"), Some(DataFormat::Parquet));
        assert_eq!(DataFormat::from_path("README.md"), None);
        assert!("xlsx".parse::<DataFormat>().is_err());
    }
}
