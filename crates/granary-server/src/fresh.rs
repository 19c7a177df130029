//! What a server caches from the metadata store — API keys, org roles, the catalog — and
//! how it stays exact without a database round trip per request.
//!
//! Every change to access rules (a key revoked, a membership set or removed) and to the
//! catalog appends to a change log in the same transaction, so two numbers, the newest of
//! each ([`ChangeMarks`]), say whether a cache is current. A request needs marks read
//! *after it arrived*; concurrent requests share one read: one check runs at a time, and a
//! request waits for the first check that began after its arrival (usually the one that
//! starts next), so under load the store sees about one `change_marks` query per check
//! period instead of one or more per request. A key revoked on any replica is refused by
//! every replica from the first request that arrives after the revocation committed.

use granary_core::Role;
use granary_db::{ApiKey, ChangeMarks, DbError, MetadataStore, Org, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use uuid::Uuid;

use crate::error::ApiResult;

/// Entries a cache holds before it is emptied (a key or role is one small record).
const MAX_CACHED: usize = 10_000;

/// Values valid as of access change `access`.
struct Cache<K, V> {
    access: i64,
    map: HashMap<K, V>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    /// The cached value, when the cache reflects exactly `access`; a cache behind it is
    /// emptied and moved forward first.
    fn get(&mut self, access: i64, key: &K) -> Option<V> {
        if access > self.access {
            self.map.clear();
            self.access = access;
        }
        (access == self.access).then(|| self.map.get(key).cloned()).flatten()
    }

    /// Keeps a value read after marks with `access` were taken, unless the cache has moved on.
    fn put(&mut self, access: i64, key: K, value: V) {
        if access != self.access {
            return;
        }
        if self.map.len() >= MAX_CACHED {
            self.map.clear();
        }
        self.map.insert(key, value);
    }
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            access: 0,
            map: HashMap::new(),
        }
    }
}

/// An org and a user's role in it (`None`: not a member).
type OrgRole = (Org, Option<Role>);

/// The shared freshness check and the caches it keeps exact.
#[derive(Default)]
pub struct Freshness {
    turn: tokio::sync::Mutex<()>,
    /// Checks begun so far; check n is the n-th.
    begun: AtomicU64,
    /// The number and outcome of the last check that finished.
    last: Mutex<Option<(u64, Result<ChangeMarks, DbError>)>>,
    /// token hash → the live key and its user
    keys: Mutex<Cache<String, (ApiKey, User)>>,
    /// (org key, user id) → the org and the user's role in it
    roles: Mutex<Cache<(String, Uuid), OrgRole>>,
}

impl Freshness {
    /// Change marks read after this call began (shared with concurrent callers). Errors
    /// are the store's, shared the same way: when the store is down, waiting requests fail
    /// together instead of each waiting out its own timeout.
    pub async fn marks(&self, db: &dyn MetadataStore) -> ApiResult<ChangeMarks> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        if let Some((n, outcome)) = self.last.lock().expect("poisoned").as_ref() {
            if *n > arrived {
                return Ok(outcome.clone()?);
            }
        }
        let n = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = db.change_marks().await;
        *self.last.lock().expect("poisoned") = Some((n, outcome.clone()));
        Ok(outcome?)
    }

    /// The live API key with this token hash and its user, or `None` (unknown or revoked).
    /// Found keys are cached until the next access change; unknown ones are not.
    /// `marks` are the request's (see [`Self::marks`]).
    pub async fn key(
        &self,
        db: &dyn MetadataStore,
        marks: ChangeMarks,
        token_hash: &str,
    ) -> ApiResult<Option<(ApiKey, User)>> {
        let key = token_hash.to_string();
        if let Some(hit) = self.keys.lock().expect("poisoned").get(marks.access, &key) {
            return Ok(Some(hit));
        }
        let found = db.authenticate(token_hash).await?;
        if let Some(v) = &found {
            self.keys.lock().expect("poisoned").put(marks.access, key, v.clone());
        }
        Ok(found)
    }

    /// The org with this key and the user's role in it (`None`: not a member), or `None`
    /// when there is no such org. Cached like keys.
    pub async fn role(
        &self,
        db: &dyn MetadataStore,
        marks: ChangeMarks,
        org_key: &str,
        user_id: Uuid,
    ) -> ApiResult<Option<OrgRole>> {
        let key = (org_key.to_string(), user_id);
        if let Some(hit) = self.roles.lock().expect("poisoned").get(marks.access, &key) {
            return Ok(Some(hit));
        }
        let Some(org) = db.org_by_key(org_key).await? else {
            return Ok(None);
        };
        let role = db.role_of(org.id, user_id).await?;
        self.roles
            .lock()
            .expect("poisoned")
            .put(marks.access, key, (org.clone(), role));
        Ok(Some((org, role)))
    }
}
