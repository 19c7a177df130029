//! Who may see and change what. Members see everything of their org; others see only
//! public datasets, and a private dataset of another org is reported as not found.

use granary_core::{Role, Version};
use granary_db::{Org, VersionRecord};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub struct OrgAccess {
    pub org: Org,
    pub role: Option<Role>,
}

impl OrgAccess {
    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }

    /// Contributors and owners may publish, delete and change visibility.
    pub fn require_write(&self) -> ApiResult<()> {
        match self.role {
            Some(r) if r.can_write() => Ok(()),
            Some(r) => Err(ApiError::forbidden(format!(
                "your role in organization {} is {r}; publishing needs contributor or owner",
                self.org.key
            ))),
            None => Err(ApiError::forbidden(format!(
                "you are not a member of organization {}",
                self.org.key
            ))),
        }
    }
}

impl AppState {
    /// The org named in a path and the caller's role in it; 404 if there is no such org.
    pub async fn org_access(&self, caller: &Caller, key: &str) -> ApiResult<OrgAccess> {
        let (org, role) = self
            .fresh
            .role(self.db.as_ref(), caller.marks, key, caller.user.id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("organization {key:?} not found")).oci("NAME_UNKNOWN"))?;
        Ok(OrgAccess { org, role })
    }

    /// A version the caller may read: the given one, or the highest when `version` is None.
    pub async fn visible_version(
        &self,
        access: &OrgAccess,
        name: &str,
        version: Option<Version>,
    ) -> ApiResult<VersionRecord> {
        match self.db.version(access.org.id, name, version).await? {
            Some(rec) if rec.is_public || access.is_member() => Ok(rec),
            Some(_) => Err(not_found(&access.org.key, name, None)),
            // Name the missing version only to those who may know the dataset exists.
            None => match self.db.dataset(access.org.id, name).await? {
                Some(d) if d.is_public || access.is_member() => Err(not_found(&access.org.key, name, version)),
                _ => Err(not_found(&access.org.key, name, None)),
            },
        }
    }

    /// Checks the caller may read the dataset at all (any version).
    pub async fn require_visible_dataset(&self, access: &OrgAccess, name: &str) -> ApiResult<()> {
        match self.db.dataset(access.org.id, name).await? {
            Some(d) if d.is_public || access.is_member() => Ok(()),
            _ => Err(not_found(&access.org.key, name, None)),
        }
    }
}

pub fn not_found(org: &str, name: &str, version: Option<Version>) -> ApiError {
    match version {
        Some(v) => {
            ApiError::not_found(format!("version {v} of dataset {org}/{name} not found")).oci("MANIFEST_UNKNOWN")
        }
        None => ApiError::not_found(format!("dataset {org}/{name} not found")).oci("NAME_UNKNOWN"),
    }
}
