//! The documents a publish carries, parsed as the server parses them (serde_json into
//! `OciManifest` and `DatasetManifest`) and checked with granary-core's rules in the
//! order the publish handler applies them. Asserted along the way, the properties those
//! rules promise:
//! - an artifact path `validate_artifact_path` accepts is relative and made of plain
//!   components only (no root, no `..`, no `.`), so it stays inside the dataset;
//! - a `Version` or `Digest` that parses prints back as the text it was parsed from;
//! - a size category computed from a row count is one `validate_size_category` accepts;
//! - a manifest that parses serialises and parses back to the same value.
//!
//! The whole input, when it is UTF-8, also goes through each parser on its own.
#![no_main]

mod common;

use granary_core::manifest::{validate_size_category, ANN_NAME, ANN_VERSION};
use granary_core::{
    artifacts_hash, size_category, validate_artifact_path, validate_dataset_name, validate_org_key, DataFormat,
    DatasetManifest, Digest, OciManifest, Version,
};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::path::{Component, Path};

fn version(s: &str) {
    if let Ok(v) = s.parse::<Version>() {
        assert_eq!(v.to_string(), s, "version {s:?} parsed as {v:?}");
    }
}

fn digest(s: &str) -> Option<Digest> {
    let d = s.parse::<Digest>().ok()?;
    assert_eq!(d.to_string(), s, "digest {s:?} parsed as {d:?}");
    Some(d)
}

fn artifact_path(p: &str) {
    if validate_artifact_path(p).is_ok() {
        assert!(
            Path::new(p).components().all(|c| matches!(c, Component::Normal(_))),
            "artifact path {p:?} was accepted"
        );
        let _ = DataFormat::from_path(p);
    }
}

fn name(s: &str) {
    match s.split_once('/') {
        Some((org, name)) => {
            let _ = validate_org_key(org);
            let _ = validate_dataset_name(name);
        }
        None => {
            let _ = validate_dataset_name(s);
        }
    }
}

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let text = serde_json::to_vec(value).expect("a parsed manifest serialises");
    let back: T = serde_json::from_slice(&text).expect("a serialised manifest parses");
    assert_eq!(&back, value, "{}", String::from_utf8_lossy(&text));
}

fn oci(m: &OciManifest) {
    digest(&m.config.digest.to_string()).expect("a parsed config digest prints as one");
    for layer in &m.layers {
        digest(&layer.digest.to_string()).expect("a parsed layer digest prints as one");
    }
    if let Some(v) = m.annotations.get(ANN_VERSION) {
        version(v);
    }
    if let Some(n) = m.annotations.get(ANN_NAME) {
        name(n);
    }
    roundtrip(m);
}

fn dataset(m: &DatasetManifest) {
    let _ = m.format.parse::<DataFormat>();
    for (path, d) in &m.artifacts {
        artifact_path(path);
        digest(d);
    }
    let computed = artifacts_hash(&m.artifacts);
    assert_eq!(digest(&computed.to_string()).as_ref(), Some(&computed));
    if let Some(declared) = &m.artifacts_hash {
        let _ = digest(declared);
        let _ = declared == &computed.to_string();
    }
    if let Some(splits) = &m.splits {
        for (split, path) in splits {
            name(split);
            artifact_path(path);
            let _ = m.artifacts.contains_key(path);
        }
    }
    if let Some(cat) = &m.size_category {
        let _ = validate_size_category(cat);
    }
    if let Some(rows) = m.row_count.and_then(|r| u64::try_from(r).ok()) {
        let cat = size_category(rows);
        assert_eq!(validate_size_category(cat), Ok(()), "{rows} rows: {cat}");
    }
    roundtrip(m);
}

fn one(data: &[u8]) {
    if let Ok(m) = serde_json::from_slice::<OciManifest>(data) {
        oci(&m);
    }
    if let Ok(m) = serde_json::from_slice::<DatasetManifest>(data) {
        dataset(&m);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        version(s);
        digest(s);
        artifact_path(s);
        name(s);
        let _ = s.parse::<DataFormat>();
        let _ = validate_size_category(s);
    }
}

fuzz_target!(|data: &[u8]| common::run(data, one));
