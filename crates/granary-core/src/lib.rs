//! Domain types of the registry: names, versions, digests, manifests, roles and their
//! validation rules. This crate does no IO; every other crate speaks in its types.

pub mod digest;
pub mod manifest;
pub mod names;
pub mod version;

pub use digest::{Digest, DigestError};
pub use manifest::{
    artifacts_hash, size_category, validate_artifact_path, DataFormat, DatasetManifest, Descriptor, ManifestError,
    OciManifest, SIZE_CATEGORIES,
};
pub use names::{validate_dataset_name, validate_org_key, NameError, Role};
pub use version::{Version, VersionError};
