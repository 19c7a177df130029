//! What a server caches from the metadata store — API keys, org roles, the catalog,
//! download counts and activity pages — and how it stays exact without a database round
//! trip per request.
//!
//! Every change to access rules (a key revoked, a membership set or removed) and to the
//! catalog appends to a change log in the same transaction, and every recorded download
//! moves a download mark, so three numbers ([`ChangeMarks`]) say whether a cache is current. A request needs marks read
//! *after it arrived*; concurrent requests share one read: one check runs at a time, and a
//! request waits for the first check that began after its arrival (usually the one that
//! starts next), so under load the store sees about one `change_marks` query per check
//! period instead of one or more per request. A key revoked on any replica is refused by
//! every replica from the first request that arrives after the revocation committed.

use granary_core::Role;
use granary_db::{ActivityQuery, ApiKey, ChangeMarks, DbError, DownloadEvent, MetadataStore, Org, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::error::ApiResult;

/// Keys or roles a cache holds before it is emptied (each is one small record).
const MAX_CACHED: usize = 10_000;
/// Download counts held (24 bytes each, plus the map's overhead).
const MAX_COUNTS: usize = 100_000;
/// Activity pages held (up to 200 events each).
const MAX_PAGES: usize = 256;

/// Values valid as of one mark (a change number or the download mark).
struct Cache<K, V> {
    mark: i64,
    cap: usize,
    map: HashMap<K, V>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn new(cap: usize) -> Self {
        Cache {
            mark: 0,
            cap,
            map: HashMap::new(),
        }
    }

    /// Empties a cache that is behind `mark` and moves it forward; true when the cache
    /// then reflects exactly `mark` (false for a request whose marks are older).
    fn at(&mut self, mark: i64) -> bool {
        if mark > self.mark {
            self.map.clear();
            self.mark = mark;
        }
        mark == self.mark
    }

    /// The cached value, when the cache reflects exactly `mark`.
    fn get(&mut self, mark: i64, key: &K) -> Option<V> {
        self.at(mark).then(|| self.map.get(key).cloned()).flatten()
    }

    /// Keeps a value read after marks with `mark` were taken, unless the cache has moved on.
    fn put(&mut self, mark: i64, key: K, value: V) {
        if mark != self.mark {
            return;
        }
        if self.map.len() >= self.cap {
            self.map.clear();
        }
        self.map.insert(key, value);
    }
}

/// One page of the activity feed and how many events match.
pub type ActivityPage = Arc<(Vec<DownloadEvent>, u64)>;

/// An org and a user's role in it (`None`: not a member).
type OrgRole = (Org, Option<Role>);

/// The shared freshness check and the caches it keeps exact.
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
    /// version id → exact download count, as of a download mark
    counts: Mutex<Cache<Uuid, u64>>,
    /// an activity query → its page and total, as of a download mark
    activity: Mutex<Cache<ActivityQuery, ActivityPage>>,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            turn: Default::default(),
            begun: AtomicU64::new(0),
            last: Mutex::new(None),
            keys: Mutex::new(Cache::new(MAX_CACHED)),
            roles: Mutex::new(Cache::new(MAX_CACHED)),
            counts: Mutex::new(Cache::new(MAX_COUNTS)),
            activity: Mutex::new(Cache::new(MAX_PAGES)),
        }
    }
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

    /// Exact download counts of these versions as of `marks` (or later); versions that no
    /// longer exist are left out. Counts cached at the request's download mark are used;
    /// the rest are read from the store in one query and cached.
    pub async fn download_counts(
        &self,
        db: &dyn MetadataStore,
        marks: ChangeMarks,
        ids: &[Uuid],
    ) -> ApiResult<HashMap<Uuid, u64>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.counts.lock().expect("poisoned");
            let current = cache.at(marks.downloads);
            for id in ids {
                match cache.map.get(id).filter(|_| current) {
                    Some(n) => {
                        found.insert(*id, *n);
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let read = db.download_counts(&missing).await?;
        let mut cache = self.counts.lock().expect("poisoned");
        for (id, n) in read {
            cache.put(marks.downloads, id, n);
            found.insert(id, n);
        }
        Ok(found)
    }

    /// One page of an org's activity feed and its total, as of `marks` (or later): cached
    /// per query at the request's download mark, read from the store otherwise.
    pub async fn activity(
        &self,
        db: &dyn MetadataStore,
        marks: ChangeMarks,
        q: &ActivityQuery,
    ) -> ApiResult<ActivityPage> {
        if let Some(hit) = self.activity.lock().expect("poisoned").get(marks.downloads, q) {
            return Ok(hit);
        }
        let page: ActivityPage = Arc::new(db.list_downloads(q).await?);
        self.activity
            .lock()
            .expect("poisoned")
            .put(marks.downloads, q.clone(), page.clone());
        Ok(page)
    }
}
