//! The catalog: an in-memory index of every version's listable fields, so list and facet
//! queries with any filter and sort answer in milliseconds on any metadata backend.
//!
//! The metadata store stays the source of truth. The index is loaded once, then before each
//! query it asks the store which datasets changed since the change sequence it reflects and
//! reloads just those (`catalog_changes`: one indexed read when nothing changed). Every
//! mutation appends its dataset to that change log in its own transaction, so a server sees
//! its own and other servers' writes on the next query. Download counts are not indexed:
//! pages are read back from the store by id, with exact counts.

use granary_db::{CatalogRow, MetadataStore};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{RwLock, RwLockReadGuard};
use uuid::Uuid;

use crate::error::ApiResult;

/// Which versions a listing may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything of one org (a member's view).
    Org(Uuid),
    /// The public datasets of one org (an outsider's view).
    OrgPublic(Uuid),
    /// A member's view of their org plus every public dataset.
    OrgAndPublic(Uuid),
    /// Every public dataset.
    Public,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    CreatedAt,
    UpdatedAt,
    RowCount,
    FileSizeBytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// Filters of the list and facets endpoints. Empty lists mean "no filter".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListFilter {
    /// Exact dataset name, optionally with its org key.
    pub name: Option<(Option<String>, String)>,
    /// Case-insensitive substring of name or summary.
    pub search: Option<String>,
    pub tags: Vec<String>,
    pub licenses: Vec<String>,
    pub task_categories: Vec<String>,
    pub formats: Vec<String>,
    pub size_categories: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub scope: Scope,
    pub filter: ListFilter,
    pub sort: SortKey,
    pub dir: SortDir,
    pub offset: u64,
    pub limit: u64,
    /// One hit per dataset: its highest version among those that match (the web catalog's
    /// cards). Totals and paging then count datasets, not versions.
    pub group: bool,
}

/// Facet values with their counts, most frequent first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets {
    pub tags: Vec<(String, u64)>,
    pub licenses: Vec<(String, u64)>,
    pub task_categories: Vec<(String, u64)>,
    pub formats: Vec<(String, u64)>,
    pub size_categories: Vec<(String, u64)>,
    pub filtered_total: u64,
    pub total: u64,
}

/// Interned strings (tags, licenses, formats, …) as small integers.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

struct Entry {
    id: Uuid,
    version: granary_core::Version,
    summary_lc: Box<str>,
    tags: Box<[u32]>,
    tasks: Box<[u32]>,
    license: Option<u32>,
    format: u32,
    size_category: u32,
    rows: u64,
    size: u64,
    created: i64,
    updated: i64,
}

struct DatasetEntry {
    org: Uuid,
    name: Arc<str>,
    full_name: Arc<str>,
    name_lc: Box<str>,
    public: bool,
    versions: Vec<Entry>,
}

/// The index proper, at change sequence `seq`.
pub struct Index {
    seq: i64,
    datasets: HashMap<Uuid, DatasetEntry>,
    strings: Interner,
}

/// A filter with its values resolved to interned ids. `Some(empty)` matches nothing.
struct Compiled {
    /// `org/name` when the filter named the org, else the bare name.
    full_name: Option<String>,
    name: Option<String>,
    search: Option<String>,
    tags: Option<Vec<u32>>,
    tasks: Option<Vec<u32>>,
    licenses: Option<Vec<u32>>,
    formats: Option<Vec<u32>>,
    sizes: Option<Vec<u32>>,
}

/// Which of the five facet filters a version passes.
#[derive(Clone, Copy)]
struct Pass {
    tags: bool,
    tasks: bool,
    licenses: bool,
    formats: bool,
    sizes: bool,
}

impl Pass {
    fn all(self) -> bool {
        self.tags && self.tasks && self.licenses && self.formats && self.sizes
    }
}

fn any_of(want: &Option<Vec<u32>>, have: &[u32]) -> bool {
    want.as_ref().is_none_or(|w| have.iter().any(|h| w.contains(h)))
}

fn one_of(want: &Option<Vec<u32>>, have: Option<u32>) -> bool {
    want.as_ref().is_none_or(|w| have.is_some_and(|h| w.contains(&h)))
}

impl Index {
    fn empty() -> Self {
        Index {
            seq: 0,
            datasets: HashMap::new(),
            strings: Interner::default(),
        }
    }

    /// Replaces the given datasets' entries with `rows` (a dataset with no rows is gone).
    fn apply(&mut self, dataset_ids: &[Uuid], rows: Vec<CatalogRow>) {
        for id in dataset_ids {
            self.datasets.remove(id);
        }
        for r in rows {
            let s = &mut self.strings;
            let entry = Entry {
                id: r.id,
                version: r.version,
                summary_lc: r.summary.as_deref().unwrap_or("").to_lowercase().into(),
                tags: r.tags.iter().map(|t| s.intern(t)).collect(),
                tasks: r.task_categories.iter().map(|t| s.intern(t)).collect(),
                license: r.license.as_deref().map(|l| s.intern(l)),
                format: s.intern(&r.format),
                size_category: s.intern(&r.size_category),
                rows: r.row_count,
                size: r.file_size_bytes,
                created: r.created_at.timestamp_micros(),
                updated: r.updated_at.timestamp_micros(),
            };
            let d = self.datasets.entry(r.dataset_id).or_insert_with(|| DatasetEntry {
                org: r.org_id,
                name_lc: r.name.to_lowercase().into(),
                name: r.name.as_str().into(),
                full_name: r.full_name.as_str().into(),
                public: r.is_public,
                versions: Vec::new(),
            });
            d.public = r.is_public;
            d.versions.push(entry);
        }
    }

    fn compile(&self, f: &ListFilter) -> Compiled {
        let ids = |values: &[String]| -> Option<Vec<u32>> {
            (!values.is_empty()).then(|| values.iter().filter_map(|v| self.strings.get(v)).collect())
        };
        let (full_name, name) = match &f.name {
            Some((Some(org), name)) => (Some(format!("{org}/{name}")), None),
            Some((None, name)) => (None, Some(name.clone())),
            None => (None, None),
        };
        Compiled {
            full_name,
            name,
            search: f.search.as_ref().map(|s| s.to_lowercase()),
            tags: ids(&f.tags),
            tasks: ids(&f.task_categories),
            licenses: ids(&f.licenses),
            formats: ids(&f.formats),
            sizes: ids(&f.size_categories),
        }
    }

    fn in_scope(scope: Scope, d: &DatasetEntry) -> bool {
        match scope {
            Scope::Org(org) => d.org == org,
            Scope::OrgPublic(org) => d.org == org && d.public,
            Scope::OrgAndPublic(org) => d.org == org || d.public,
            Scope::Public => d.public,
        }
    }

    /// Every version in scope that passes the name and search filters, with its facet passes.
    fn candidates<'a>(
        &'a self,
        scope: Scope,
        c: &'a Compiled,
    ) -> impl Iterator<Item = (&'a DatasetEntry, &'a Entry, Pass)> + 'a {
        self.datasets
            .values()
            .filter(move |d| Self::in_scope(scope, d))
            .filter(move |d| c.full_name.as_deref().is_none_or(|f| *d.full_name == *f))
            .filter(move |d| c.name.as_deref().is_none_or(|n| *d.name == *n))
            .flat_map(move |d| {
                let name_hit = c.search.as_ref().is_none_or(|s| d.name_lc.contains(s.as_str()));
                d.versions.iter().filter_map(move |e| {
                    if !name_hit && !c.search.as_ref().is_some_and(|s| e.summary_lc.contains(s.as_str())) {
                        return None;
                    }
                    let pass = Pass {
                        tags: any_of(&c.tags, &e.tags),
                        tasks: any_of(&c.tasks, &e.tasks),
                        licenses: one_of(&c.licenses, e.license),
                        formats: one_of(&c.formats, Some(e.format)),
                        sizes: one_of(&c.sizes, Some(e.size_category)),
                    };
                    Some((d, e, pass))
                })
            })
    }

    /// The ids on one page in a total, stable order, and how many versions match in all.
    pub fn list(&self, q: &ListQuery) -> (Vec<Uuid>, u64) {
        let c = self.compile(&q.filter);
        let mut hits: Vec<(&DatasetEntry, &Entry)> = self
            .candidates(q.scope, &c)
            .filter(|(_, _, p)| p.all())
            .map(|(d, e, _)| (d, e))
            .collect();
        if q.group {
            let mut best: HashMap<*const DatasetEntry, &Entry> = HashMap::new();
            for (d, e) in &hits {
                let slot = best.entry(*d as *const DatasetEntry).or_insert(e);
                if e.version > slot.version {
                    *slot = e;
                }
            }
            hits.retain(|(d, e)| std::ptr::eq(best[&(*d as *const DatasetEntry)], *e));
        }
        let total = hits.len() as u64;
        let cmp = |a: &(&DatasetEntry, &Entry), b: &(&DatasetEntry, &Entry)| -> Ordering {
            let key = match q.sort {
                SortKey::Name => a.0.full_name.cmp(&b.0.full_name),
                SortKey::CreatedAt => a.1.created.cmp(&b.1.created),
                SortKey::UpdatedAt => a.1.updated.cmp(&b.1.updated),
                SortKey::RowCount => a.1.rows.cmp(&b.1.rows),
                SortKey::FileSizeBytes => a.1.size.cmp(&b.1.size),
            };
            let o = key.then_with(|| a.1.id.cmp(&b.1.id));
            match q.dir {
                SortDir::Asc => o,
                SortDir::Desc => o.reverse(),
            }
        };
        let offset = q.offset.min(total) as usize;
        let end = (q.offset.saturating_add(q.limit)).min(total) as usize;
        if end < hits.len() && end > 0 {
            // Only the first `end` rows need ordering.
            hits.select_nth_unstable_by(end - 1, cmp);
            hits.truncate(end);
        }
        hits.sort_unstable_by(cmp);
        let page = hits.get(offset..end).unwrap_or(&[]).iter().map(|(_, e)| e.id).collect();
        (page, total)
    }

    /// Facet counts, each computed with every filter but its own, in one pass.
    pub fn facets(&self, scope: Scope, f: &ListFilter) -> Facets {
        let c = self.compile(f);
        let mut tags: HashMap<u32, u64> = HashMap::new();
        let mut tasks: HashMap<u32, u64> = HashMap::new();
        let mut licenses: HashMap<u32, u64> = HashMap::new();
        let mut formats: HashMap<u32, u64> = HashMap::new();
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        let mut filtered_total = 0;
        for (_, e, p) in self.candidates(scope, &c) {
            if p.tasks && p.licenses && p.formats && p.sizes {
                let mut seen: Vec<u32> = Vec::with_capacity(e.tags.len());
                for t in e.tags.iter() {
                    if !seen.contains(t) {
                        seen.push(*t);
                        *tags.entry(*t).or_default() += 1;
                    }
                }
            }
            if p.tags && p.licenses && p.formats && p.sizes {
                let mut seen: Vec<u32> = Vec::with_capacity(e.tasks.len());
                for t in e.tasks.iter() {
                    if !seen.contains(t) {
                        seen.push(*t);
                        *tasks.entry(*t).or_default() += 1;
                    }
                }
            }
            if p.tags && p.tasks && p.formats && p.sizes {
                if let Some(l) = e.license {
                    *licenses.entry(l).or_default() += 1;
                }
            }
            if p.tags && p.tasks && p.licenses && p.sizes {
                *formats.entry(e.format).or_default() += 1;
            }
            if p.tags && p.tasks && p.licenses && p.formats {
                *sizes.entry(e.size_category).or_default() += 1;
            }
            filtered_total += p.all() as u64;
        }
        let total = self
            .datasets
            .values()
            .filter(|d| Self::in_scope(scope, d))
            .map(|d| d.versions.len() as u64)
            .sum();
        let named = |m: HashMap<u32, u64>| {
            let mut v: Vec<(String, u64)> = m
                .into_iter()
                .map(|(k, n)| (self.strings.name(k).to_string(), n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        Facets {
            tags: named(tags),
            licenses: named(licenses),
            task_categories: named(tasks),
            formats: named(formats),
            size_categories: named(sizes),
            filtered_total,
            total,
        }
    }
}

/// The shared, self-refreshing index.
pub struct Catalog {
    index: RwLock<Option<Index>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            index: RwLock::new(None),
        }
    }
}

impl Catalog {
    /// The index, brought up to date with the store first.
    pub async fn fresh(&self, db: &dyn MetadataStore) -> ApiResult<RwLockReadGuard<'_, Index>> {
        {
            let guard = self.index.read().await;
            if let Some(ix) = guard.as_ref() {
                let (newest, _) = db.catalog_changes(ix.seq).await?;
                if newest == ix.seq {
                    return Ok(RwLockReadGuard::map(guard, |o| o.as_ref().expect("checked")));
                }
            }
        }
        let mut guard = self.index.write().await;
        match guard.as_mut() {
            None => {
                let (seq, rows) = db.catalog_snapshot().await?;
                let mut ix = Index::empty();
                ix.apply(&[], rows);
                ix.seq = seq;
                tracing::info!(
                    versions = ix.datasets.values().map(|d| d.versions.len()).sum::<usize>(),
                    "catalog loaded"
                );
                *guard = Some(ix);
            }
            Some(ix) => {
                let (newest, changed) = db.catalog_changes(ix.seq).await?;
                if !changed.is_empty() {
                    let rows = db.catalog_rows(&changed).await?;
                    ix.apply(&changed, rows);
                }
                ix.seq = newest;
            }
        }
        let guard = guard.downgrade();
        Ok(RwLockReadGuard::map(guard, |o| o.as_ref().expect("just loaded")))
    }
}
