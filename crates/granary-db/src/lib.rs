//! The metadata store: every query the registry makes, behind one trait, so the server never
//! sees SQL. `sqlite` is the embedded default. Only this crate depends on sqlx.

mod model;
pub mod sql;

pub use model::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use granary_core::{Digest, Role, Version};
use uuid::Uuid;

#[derive(Clone, Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was violated (org key, username, …).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The database did not answer in time.
    #[error("metadata database timed out: {0}")]
    Timeout(String),
    /// The database answered with an error or could not be reached.
    #[error("metadata database error: {0}")]
    Backend(String),
    /// The database could not be reached or opened at all (start-up).
    #[error("{0}")]
    Unavailable(String),
    /// The row an operation needs is gone (deleted by a concurrent request).
    #[error("{0} was not found")]
    NotFound(String),
    /// Stored data could not be decoded: a bug or a corrupted database.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// Everything the registry asks of its metadata database.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    // identity
    /// One round trip to the database (`SELECT 1`), for readiness checks.
    async fn ping(&self) -> DbResult<()>;
    async fn user_count(&self) -> DbResult<i64>;
    async fn create_org(&self, key: &str, name: &str) -> DbResult<Org>;
    async fn org_by_key(&self, key: &str) -> DbResult<Option<Org>>;
    async fn list_orgs(&self) -> DbResult<Vec<Org>>;
    async fn create_user(&self, username: &str, email: &str) -> DbResult<User>;
    async fn user_by_name(&self, username: &str) -> DbResult<Option<User>>;
    async fn list_users(&self) -> DbResult<Vec<User>>;
    /// Adds the user to the org or changes their role.
    async fn set_membership(&self, org_id: Uuid, user_id: Uuid, role: Role) -> DbResult<()>;
    async fn remove_membership(&self, org_id: Uuid, user_id: Uuid) -> DbResult<bool>;
    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> DbResult<Option<Role>>;
    async fn list_members(&self, org_id: Uuid) -> DbResult<Vec<(User, Role)>>;
    async fn list_user_orgs(&self, user_id: Uuid) -> DbResult<Vec<(Org, Role)>>;
    async fn create_api_key(&self, user_id: Uuid, name: &str, prefix: &str, token_hash: &str) -> DbResult<ApiKey>;
    /// The live (unrevoked) key with this hash and its user.
    async fn authenticate(&self, token_hash: &str) -> DbResult<Option<(ApiKey, User)>>;
    /// The key with this id and its user, while the key is not revoked (None otherwise).
    /// Credentials derived from a key (the `/s3` endpoint's) are checked through it.
    async fn live_api_key(&self, id: Uuid) -> DbResult<Option<(ApiKey, User)>>;
    async fn list_api_keys(&self, user_id: Option<Uuid>) -> DbResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, id: Uuid) -> DbResult<bool>;
    /// Opens a browser session for a key (and drops sessions that have expired).
    async fn create_session(&self, token_hash: &str, key_id: Uuid, expires_at: DateTime<Utc>) -> DbResult<()>;
    /// The live session's key and user: unexpired, and its key not revoked.
    async fn session(&self, token_hash: &str) -> DbResult<Option<(ApiKey, User)>>;
    async fn delete_session(&self, token_hash: &str) -> DbResult<()>;

    // datasets
    /// Creates the version (and its dataset, if new) in one transaction.
    async fn publish_version(&self, new: NewVersion) -> DbResult<PublishOutcome>;
    async fn dataset(&self, org_id: Uuid, name: &str) -> DbResult<Option<Dataset>>;
    /// The given version, or the highest one when `version` is `None`.
    async fn version(&self, org_id: Uuid, name: &str, version: Option<Version>) -> DbResult<Option<VersionRecord>>;
    async fn version_by_digest(&self, org_id: Uuid, name: &str, digest: &Digest) -> DbResult<Option<VersionRecord>>;
    /// All versions of a dataset, highest first.
    async fn list_versions(&self, org_id: Uuid, name: &str) -> DbResult<Vec<Version>>;
    /// All versions of a dataset with their ids, highest first, in one query.
    async fn version_ids(&self, org_id: Uuid, name: &str) -> DbResult<Vec<(Uuid, Version)>>;
    /// Whether a public dataset of this org references the blob.
    async fn blob_is_public(&self, org_id: Uuid, digest: &Digest) -> DbResult<bool>;
    /// Versions by id (without files), in no particular order; unknown ids are skipped.
    async fn versions_by_id(&self, ids: &[Uuid]) -> DbResult<Vec<VersionRecord>>;
    /// Every version's catalog row, and the newest catalog change they reflect.
    async fn catalog_snapshot(&self) -> DbResult<(i64, Vec<CatalogRow>)>;
    /// The datasets changed after change `since`, and the newest change.
    async fn catalog_changes(&self, since: i64) -> DbResult<(i64, Vec<Uuid>)>;
    /// The newest catalog change, the newest access change (a key revoked, a membership set
    /// or removed) and the number of downloads recorded, in one round trip: what a server
    /// compares with the marks its caches reflect. All three only grow, and each moves with
    /// every commit of its kind (whatever order concurrent writers commit in).
    async fn change_marks(&self) -> DbResult<ChangeMarks>;
    /// Each version's exact download count (folded counts plus pending events); unknown ids
    /// are left out.
    async fn download_counts(&self, ids: &[Uuid]) -> DbResult<std::collections::HashMap<Uuid, u64>>;
    /// The catalog rows of these datasets' versions (none for a dataset that is gone).
    async fn catalog_rows(&self, dataset_ids: &[Uuid]) -> DbResult<Vec<CatalogRow>>;
    /// Removes one version; the dataset goes with its last version. False if absent.
    async fn delete_version(&self, org_id: Uuid, name: &str, version: Version) -> DbResult<bool>;
    /// Sets a dataset's visibility (all its versions). None if there is no such dataset.
    async fn set_visibility(&self, org_id: Uuid, name: &str, is_public: bool) -> DbResult<Option<Dataset>>;

    // downloads
    /// Appends one download event. Counting never contends on a shared row. Fails with
    /// [`DbError::NotFound`] when the version was deleted after the caller read it.
    async fn record_download(&self, ev: NewDownload) -> DbResult<DownloadEvent>;
    /// Folds events into the per-version and per-(org, dataset, user) counters, up to the
    /// newest event, in one transaction. Returns how many events it folded. Reads are exact
    /// whether or not this ran; it keeps them cheap.
    async fn fold_downloads(&self) -> DbResult<u64>;
    /// The org's download events, newest first, and how many match in all.
    async fn list_downloads(&self, q: &ActivityQuery) -> DbResult<(Vec<DownloadEvent>, u64)>;
    /// Downloads of the dataset `dataset_name` (`org/name`) per UTC day and version, for
    /// events recorded at or after `since`, in day then version order; days without
    /// downloads are absent. Counted from the events themselves: exact, folded or not.
    async fn downloads_per_day(
        &self,
        org_id: Uuid,
        dataset_name: &str,
        since: DateTime<Utc>,
    ) -> DbResult<Vec<DailyDownloads>>;

    // the viewer's background work
    /// Claims the oldest pending job, or a running one whose lease ended before `now` (its
    /// server stopped), for `lease` until `until`. Of servers racing, one wins; `None` when
    /// nothing is claimable.
    async fn viewer_claim(
        &self,
        lease: Uuid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<Option<ViewerClaim>>;
    /// Extends a claim's lease; false when the claim is no longer this one's.
    async fn viewer_renew(&self, claim: &ViewerClaim, until: DateTime<Utc>) -> DbResult<bool>;
    /// Marks the job ready with its result and renditions, in one transaction, if `claim`
    /// still holds it; false (nothing written) otherwise.
    async fn viewer_finish(
        &self,
        claim: &ViewerClaim,
        renditions: &[Rendition],
        result: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool>;
    /// Records a failed attempt: pending again when `retry`, else failed for good.
    async fn viewer_fail(&self, claim: &ViewerClaim, error: &str, retry: bool, now: DateTime<Utc>) -> DbResult<()>;
    /// A version's job and renditions; `None` for no job (the version is gone).
    async fn viewer_status(&self, version_id: Uuid) -> DbResult<Option<ViewerStatus>>;
    /// Makes every failed job pending again, its attempts reset (after the cause, a store
    /// outage or a bug, was fixed); returns their versions' ids.
    async fn viewer_requeue_failed(&self, now: DateTime<Utc>) -> DbResult<Vec<Uuid>>;
    /// Running jobs whose leases have not ended at `now`: (version id, lease end).
    async fn viewer_held(&self, now: DateTime<Utc>) -> DbResult<Vec<(Uuid, DateTime<Utc>)>>;

    // OCI content under /v2/ (OCI distribution-spec)
    /// Stores a manifest (idempotent by digest) and points each of `tags` at it, in one
    /// transaction: all or nothing. A tag that is a dataset version's is not moved.
    async fn oci_put_manifest(
        &self,
        org_id: Uuid,
        repo: &str,
        content: &OciContent,
        tags: &[&str],
    ) -> DbResult<OciPutOutcome>;
    /// The manifest with this digest in the repository.
    async fn oci_manifest(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<Option<OciManifestRecord>>;
    /// The manifest the tag points at.
    async fn oci_tagged(&self, org_id: Uuid, repo: &str, tag: &str) -> DbResult<Option<OciManifestRecord>>;
    /// The repository's tags in lexical order, after `last` when given, at most `n`.
    async fn oci_tags(&self, org_id: Uuid, repo: &str, last: Option<&str>, n: Option<u32>) -> DbResult<Vec<String>>;
    /// Manifests whose `subject` is `digest`, without bodies, oldest first.
    async fn oci_referrers(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<Vec<OciManifestRecord>>;
    /// Removes a manifest, every tag pointing at it and its references. False if absent.
    async fn oci_delete_manifest(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<bool>;
    /// Removes a tag (the manifest stays, reachable by digest). False if absent.
    async fn oci_delete_tag(&self, org_id: Uuid, repo: &str, tag: &str) -> DbResult<bool>;
    /// Whether any dataset version of the org references the blob (as a file, config or
    /// manifest): such a blob is never deleted.
    async fn blob_in_version(&self, org_id: Uuid, digest: &Digest) -> DbResult<bool>;
    /// Versions without a `/v2/` tag (published before views were stored), at most `limit`,
    /// without their files.
    async fn versions_without_view(&self, limit: u32) -> DbResult<Vec<VersionRecord>>;
    /// Stores the `/v2/` view of an existing version and tags it with the version. False
    /// when the version's tag already names other content (the view is then not stored).
    async fn set_version_view(&self, version: &VersionRecord, view: &OciContent) -> DbResult<bool>;

    /// Every blob digest the org references: dataset versions' data files and config blobs,
    /// and every descriptor of a stored OCI manifest.
    async fn referenced_digests(&self, org_id: Uuid) -> DbResult<std::collections::HashSet<String>>;

    /// A server-wide setting, stored as `init` by whichever replica asks first.
    async fn setting_or_init(&self, key: &str, init: &str) -> DbResult<String>;
}
