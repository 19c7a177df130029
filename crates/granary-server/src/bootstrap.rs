//! First start: an empty registry gets an owner `admin`, an org `default` and one API key.

use granary_core::Role;
use granary_db::{DbResult, MetadataStore, Org, User};

use crate::auth::issue_api_key;

pub struct InitialAdmin {
    pub user: User,
    pub org: Org,
    pub key: String,
}

/// Creates the initial owner, org and key when the registry has no users; otherwise `None`.
pub async fn ensure_initial_admin(db: &dyn MetadataStore) -> DbResult<Option<InitialAdmin>> {
    if db.user_count().await? > 0 {
        return Ok(None);
    }
    // Several servers may start at once on an empty shared database: one creates the
    // owner, the others find it taken and carry on.
    let user = match db.create_user("admin", "admin@localhost").await {
        Ok(u) => u,
        Err(granary_db::DbError::AlreadyExists(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let org = match db.org_by_key("default").await? {
        Some(org) => org,
        None => db.create_org("default", "Default").await?,
    };
    db.set_membership(org.id, user.id, Role::Owner).await?;
    let (_, key) = issue_api_key(db, user.id, "initial admin key").await?;
    Ok(Some(InitialAdmin { user, org, key }))
}
