//! Domain types of the registry: names, versions, digests, manifests, roles and their
//! validation rules. This crate does no IO; every other crate speaks in its types.

pub mod digest;
pub mod manifest;
pub mod names;
pub mod version;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{
    artifacts_hash, size_category, validate_artifact_path, DataFormat, DatasetManifest, Descriptor, ManifestError,
    OciManifest, SIZE_CATEGORIES,
};
pub use names::{validate_dataset_name, validate_org_key, NameError, Role};
pub use version::{Version, VersionError};

/// A byte count as people read it, in the one convention granary uses everywhere (CLI,
/// progress bars, web UI): IEC binary units, `512 B`, `1.5 KiB`, `1.4 GiB` (1 KiB = 1024
/// bytes), one decimal above bytes. Exact counts are in the API (`file_size_bytes`, `size`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod human_bytes_tests {
    #[test]
    fn iec_units() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1023), "1023 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(1_503_238_554), "1.4 GiB");
        assert_eq!(super::human_bytes(u64::MAX), "16384.0 PiB");
    }
}
