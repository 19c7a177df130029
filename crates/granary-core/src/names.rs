//! Organization keys, dataset names and membership roles.

use std::fmt;
use std::str::FromStr;

/// Org keys that would collide with the fixed path segments under `/api/v1/`.
pub const RESERVED_ORG_KEYS: &[&str] = &["api", "admin", "auth", "config", "health", "org", "user", "v2"];
/// Dataset names that would collide with fixed path segments under `…/datasets/`.
pub const RESERVED_DATASET_NAMES: &[&str] = &["activity", "facets", "versions", "blobs", "manifests", "tags"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("invalid organization key {0:?}: use 1-64 lowercase letters, digits and hyphens, starting and ending with a letter or digit")]
    OrgKey(String),
    #[error("organization key {0:?} is reserved; choose another")]
    ReservedOrgKey(String),
    #[error("invalid dataset name {0:?}: use 1-100 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit")]
    DatasetName(String),
    #[error("dataset name {0:?} is reserved; choose another")]
    ReservedDatasetName(String),
}

pub fn validate_org_key(key: &str) -> Result<(), NameError> {
    let b = key.as_bytes();
    let ok_inner = |c: &u8| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-');
    let ok_edge = |c: &u8| matches!(c, b'a'..=b'z' | b'0'..=b'9');
    let valid = !b.is_empty() && b.len() <= 64 && ok_edge(&b[0]) && ok_edge(&b[b.len() - 1]) && b.iter().all(ok_inner);
    if !valid {
        return Err(NameError::OrgKey(key.to_string()));
    }
    if RESERVED_ORG_KEYS.contains(&key) {
        return Err(NameError::ReservedOrgKey(key.to_string()));
    }
    Ok(())
}

pub fn validate_dataset_name(name: &str) -> Result<(), NameError> {
    let b = name.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= 100
        && matches!(b[0], b'a'..=b'z' | b'0'..=b'9')
        && b.iter()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    if !valid {
        return Err(NameError::DatasetName(name.to_string()));
    }
    if RESERVED_DATASET_NAMES.contains(&name) {
        return Err(NameError::ReservedDatasetName(name.to_string()));
    }
    Ok(())
}

/// A member's role in an organization. Ordered by power: reader < contributor < owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Reader,
    Contributor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Contributor => "contributor",
            Role::Owner => "owner",
        }
    }

    /// Contributors and owners may publish, delete and change visibility.
    pub fn can_write(self) -> bool {
        self >= Role::Contributor
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid role {0:?}: expected owner, contributor or reader")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "contributor" => Ok(Role::Contributor),
            "owner" => Ok(Role::Owner),
            _ => Err(RoleError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_keys() {
        for ok in ["a", "acme", "acme-labs", "a1", "0", &"a".repeat(64)] {
            assert_eq!(validate_org_key(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "a-", "Acme", "a_b", "a.b", &"a".repeat(65)] {
            assert!(matches!(validate_org_key(bad), Err(NameError::OrgKey(_))), "{bad}");
        }
        assert_eq!(validate_org_key("v2"), Err(NameError::ReservedOrgKey("v2".into())));
    }

    #[test]
    fn dataset_names() {
        for ok in ["a", "mnist", "squad-v2.0", "x_y", "0abc"] {
            assert_eq!(validate_dataset_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".a", "-a", "A", "a/b", "a b", &"a".repeat(101)] {
            assert!(
                matches!(validate_dataset_name(bad), Err(NameError::DatasetName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            validate_dataset_name("versions"),
            Err(NameError::ReservedDatasetName(_))
        ));
    }

    #[test]
    fn roles() {
        assert!(Role::Owner.can_write() && Role::Contributor.can_write() && !Role::Reader.can_write());
        assert_eq!("owner".parse::<Role>().unwrap(), Role::Owner);
        assert!("admin".parse::<Role>().is_err());
    }
}
